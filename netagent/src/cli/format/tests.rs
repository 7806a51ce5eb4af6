//! `--format` as Docker users write it.

use serde_json::json;

use super::{render_one, Format};

#[test]
fn fields_json_index_and_range_render_as_go_templates_do() {
    let network = json!({"Name": "app", "Labels": {"team": "web"},
        "IPAM": {"Config": [{"Subnet": "10.89.0.0/24"}]}});
    assert_eq!(render_one("{{.Name}}", &network).unwrap(), "app");
    assert_eq!(
        render_one(r#"{{index .Labels "team"}}"#, &network).unwrap(),
        "web"
    );
    assert_eq!(
        render_one("{{range .IPAM.Config}}{{.Subnet}}{{end}}", &network).unwrap(),
        "10.89.0.0/24"
    );
    assert_eq!(
        render_one("{{json .Labels}}", &network).unwrap(),
        r#"{"team":"web"}"#
    );
    assert_eq!(
        render_one(
            "{{upper .Name}} {{join (split \"a,b\" \",\") \"+\"}}",
            &network
        )
        .unwrap(),
        "APP a+b"
    );
}

#[test]
fn an_unknown_top_level_field_is_an_error_and_a_missing_map_key_is_no_value() {
    let value = json!({"Name": "app", "Labels": {}});
    let err = render_one("{{.Nmae}}", &value).unwrap_err().to_string();
    assert!(err.contains("Nmae"), "{err}");
    assert_eq!(
        render_one("{{.Labels.absent}}", &value).unwrap(),
        "<no value>"
    );
    assert!(render_one("{{.Name", &value).is_err());
}

#[test]
fn the_table_prefix_gives_a_header_and_aligned_columns() {
    let rows = [
        json!({"ID": "1", "Name": "database"}),
        json!({"ID": "22", "Name": "web"}),
    ];
    let format = Format::parse("table {{.ID}}\t{{.Name}}", "");
    let text = format
        .render(&rows, &[("ID", "NETWORK ID"), ("Name", "NAME")])
        .unwrap();
    assert_eq!(
        text,
        "NETWORK ID   NAME\n1            database\n22           web\n"
    );
    let plain = Format::parse("{{.Name}}", "").render(&rows, &[]).unwrap();
    assert_eq!(plain, "database\nweb\n");
    let default = Format::parse("table", "{{.Name}}")
        .render(&rows[..1], &[("Name", "NAME")])
        .unwrap();
    assert_eq!(default, "NAME\ndatabase\n");
}
