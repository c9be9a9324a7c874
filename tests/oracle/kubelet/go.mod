module registrylink.invalid/kubeletoracle

go 1.24.0

godebug default=go1.24
