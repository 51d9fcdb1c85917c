package main

// The si_units transform registers itself in core's registry from init().
import _ "github.com/etl-toolkit/etl/core/siunits"
