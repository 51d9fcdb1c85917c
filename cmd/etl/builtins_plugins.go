package main

// The plugins package installs core's opener of external plugins from init(),
// so that pipelines can name `plugin: external:REF`.
import _ "github.com/etl-toolkit/etl/plugins"
