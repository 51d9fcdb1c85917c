// Package server is the plugin side of etl's plugin protocol: it serves
// components built by core factories (the same ones built-ins register) as the
// Source, Transform and Sink gRPC services of plugin.proto, inside
// hashicorp/go-plugin's Serve. plugins/sdk is its public face.
package server
