package server

import (
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
)

// apiCodec is the codec the server decodes and encodes with.
func apiCodec(*Server) encoding.CodecV2 { return encoding.GetCodecV2(grpcproto.Name) }
