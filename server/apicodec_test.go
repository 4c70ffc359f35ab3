package server

import "google.golang.org/grpc/encoding"

// apiCodec is the codec the server decodes and encodes with.
func apiCodec(*Server) encoding.CodecV2 { return newCodec() }
