// Package pluginpb is the generated Go code of etl's plugin protocol,
// plugin.proto (package etl.plugin.v1): the Source, Transform, Sink and
// DeadLetters gRPC services and their messages. Read plugin.proto for the
// protocol; plugin authors writing Go use plugins/sdk instead, and authors in
// other languages generate their own code from plugin.proto.
//
// The code is generated with protoc 3.21, protoc-gen-go v1.36.12 and
// protoc-gen-go-grpc v1.6.0:
//
//	apt-get install -y protobuf-compiler
//	go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
//	go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.0
//	go generate ./plugins/proto
package pluginpb

//go:generate protoc --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative plugin.proto
