//! Runtime tier: podman with netagent as its CNI plugin (main and chained)
//! and with the OCI hook.
