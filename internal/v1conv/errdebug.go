package v1conv

import (
	"fmt"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/types/known/anypb"
)

// A check that fails cannot answer with a response, so SpiceDB sends its
// debug information in the error: as protobuf text, under
// DebugTraceErrorDetailsKey in the metadata of the status's ErrorInfo
// (SpiceDB's spiceerrors.AppendDetailsMetadata; zed's permission check
// reads it from the first ErrorInfo and prints the trace before the error).
// reach serve does the same, and `reach --endpoint ... check --explain`
// reads it back.

// DebugTraceErrorDetailsKey is the ErrorInfo metadata key of a failed
// check's DebugInformation (SpiceDB's spiceerrors.DebugTraceErrorDetailsKey).
const DebugTraceErrorDetailsKey = "debug_trace_proto_text"

// DebugInformationText is info as the protobuf text that goes under
// DebugTraceErrorDetailsKey.
func DebugInformationText(info *v1.DebugInformation) (string, error) {
	b, err := prototext.Marshal(info)
	return string(b), err
}

// WithErrorMetadata returns the status err with key=value added to the
// metadata of its first ErrorInfo, everything else kept (code, message,
// the other details, in their order). A status without an ErrorInfo, or an
// error that is not a status, comes back as it is, and ok is false (as
// SpiceDB adds the trace to an ErrorInfo only where there is one).
func WithErrorMetadata(err error, key, value string) (_ error, ok bool) {
	st, isStatus := status.FromError(err)
	if !isStatus || st == nil {
		return err, false
	}
	p := st.Proto()
	for i, d := range p.GetDetails() {
		var info errdetails.ErrorInfo
		if !d.MessageIs(&info) {
			continue
		}
		if d.UnmarshalTo(&info) != nil {
			return err, false
		}
		if info.Metadata == nil {
			info.Metadata = map[string]string{}
		}
		info.Metadata[key] = value
		a, aerr := anypb.New(&info)
		if aerr != nil {
			return err, false
		}
		p.Details[i] = a
		return status.FromProto(p).Err(), true
	}
	return err, false
}

// DebugInformationFromError reads the DebugInformation a failed check's
// status carries (nil, nil when it carries none; an error when the text
// under DebugTraceErrorDetailsKey does not parse).
func DebugInformationFromError(err error) (*v1.DebugInformation, error) {
	st, ok := status.FromError(err)
	if !ok || st == nil {
		return nil, nil
	}
	for _, d := range st.Details() {
		info, ok := d.(*errdetails.ErrorInfo)
		if !ok {
			continue
		}
		// The first ErrorInfo only, as zed reads it.
		text, ok := info.GetMetadata()[DebugTraceErrorDetailsKey]
		if !ok {
			return nil, nil
		}
		var di v1.DebugInformation
		if err := prototext.Unmarshal([]byte(text), &di); err != nil {
			return nil, fmt.Errorf("the debug information in the error does not parse: %w", err)
		}
		return &di, nil
	}
	return nil, nil
}
