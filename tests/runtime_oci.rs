//! Runtime tier: bare runc and crun with the OCI hook, and containerd's
//! `ctr run --cni` with netagent's CNI plugin.
