package server

import (
	"math/rand/v2"
	"testing"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

func checkRequestForCodec() *v1.CheckPermissionRequest {
	return &v1.CheckPermissionRequest{
		Consistency: &v1.Consistency{Requirement: &v1.Consistency_MinimizeLatency{MinimizeLatency: true}},
		Resource:    obj("document", "d42"), Permission: "view", Subject: subj("user", "ana", ""),
	}
}

// BenchmarkCodec: gRPC's protobuf codec and the server's, decoding a
// CheckPermissionRequest and encoding a CheckPermissionResponse.
func BenchmarkCodec(b *testing.B) {
	req, err := proto.Marshal(checkRequestForCodec())
	if err != nil {
		b.Fatal(err)
	}
	resp := &v1.CheckPermissionResponse{CheckedAt: &v1.ZedToken{Token: "GhUKEzE3MzM0ODg2NzQwMDAwMDAwMDA="}, Permissionship: v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION}
	for _, c := range []encoding.CodecV2{encoding.GetCodecV2(grpcproto.Name), newCodec()} {
		name := "grpc"
		if _, ok := c.(*codec); ok {
			name = "vt"
		}
		b.Run(name+"/decode", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var m v1.CheckPermissionRequest
				if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(req)}, &m); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/encode", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				d, err := c.Marshal(resp)
				if err != nil {
					b.Fatal(err)
				}
				d.Free()
			}
		})
	}
}

// The codec gives what protobuf gives, both ways, and refuses what
// protobuf refuses: strings that are not UTF-8.
func TestCodec(t *testing.T) {
	c := newCodec()
	ctx, err := structpb.NewStruct(map[string]any{"ip": "10.0.0.1", "n": 3.5, "é": []any{"ü", true}})
	if err != nil {
		t.Fatal(err)
	}
	msgs := []proto.Message{
		checkRequestForCodec(),
		&v1.CheckPermissionRequest{Resource: obj("document", "d"), Permission: "view", Subject: subj("group", "g", "member"), Context: ctx, WithTracing: true},
		&v1.WriteSchemaRequest{Schema: "definition user {} // é"},
		&v1.CheckPermissionResponse{CheckedAt: &v1.ZedToken{Token: "t"}, Permissionship: v1.CheckPermissionResponse_PERMISSIONSHIP_NO_PERMISSION},
	}
	for _, m := range msgs {
		d, err := c.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := proto.MarshalOptions{Deterministic: true}.Marshal(m)
		got := d.Materialize()
		back := m.ProtoReflect().New().Interface()
		if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(got)}, back); err != nil {
			t.Fatalf("%T: %v", m, err)
		}
		if !proto.Equal(m, back) || (len(ctx.GetFields()) == 0 && string(got) != string(want)) {
			t.Errorf("%T: encoded %x, decoded %v; want %v", m, got, back, m)
		}
		d.Free()
	}
	bad := []proto.Message{
		&v1.CheckPermissionRequest{Resource: obj("document", "d\xff"), Permission: "view", Subject: subj("user", "ana", "")},
		&v1.WriteSchemaRequest{Schema: "definition user {} // \xc3"},
		&v1.CheckPermissionRequest{Resource: obj("document", "d"), Permission: "view", Subject: subj("user", "ana", ""),
			Context: &structpb.Struct{Fields: map[string]*structpb.Value{"k\xff": structpb.NewBoolValue(true)}}},
		&v1.CheckPermissionRequest{Resource: obj("document", "d"), Permission: "view", Subject: subj("user", "ana", ""),
			Context: &structpb.Struct{Fields: map[string]*structpb.Value{"k": structpb.NewStringValue("\xe2\x82")}}},
	}
	for _, m := range bad {
		// (protobuf refuses to encode them; vtprotobuf's encoder does not
		// check.)
		raw, err := m.(interface{ MarshalVT() ([]byte, error) }).MarshalVT()
		if err != nil {
			t.Fatal(err)
		}
		back := m.ProtoReflect().New().Interface()
		if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(raw)}, back); err == nil {
			t.Errorf("%T with invalid UTF-8 decoded: %v", m, back)
		}
		if err := proto.Unmarshal(raw, back); err == nil {
			t.Errorf("%T with invalid UTF-8: protobuf decodes it", m)
		}
	}
}

// rawCodec sends and receives bytes as they are.
type rawCodec struct{}

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(*v.(*[]byte))}, nil
}
func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	*v.(*[]byte) = data.Materialize()
	return nil
}
func (rawCodec) Name() string { return "proto" }

// Over the wire, a request with a string that is not UTF-8 is refused
// as gRPC refuses what protobuf cannot decode (Internal), and a valid one
// answered.
func TestCodecOverTheWire(t *testing.T) {
	ts := startServer(t, testOptions{})
	ctx := testCtx(t)
	_, err := ts.client.WriteSchema(ctx, &v1.WriteSchemaRequest{Schema: testSchema})
	require.NoError(t, err)
	conn, err := grpc.NewClient(ts.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(bearer(testKey)), grpc.WithDefaultCallOptions(grpc.ForceCodecV2(rawCodec{})))
	require.NoError(t, err)
	defer conn.Close()
	call := func(m *v1.CheckPermissionRequest) ([]byte, error) {
		in, err := m.MarshalVT()
		require.NoError(t, err)
		var out []byte
		err = conn.Invoke(ctx, v1.PermissionsService_CheckPermission_FullMethodName, &in, &out)
		return out, err
	}
	out, err := call(&v1.CheckPermissionRequest{Resource: obj("document", "d1"), Permission: "view", Subject: subj("user", "ana", "")})
	require.NoError(t, err)
	var resp v1.CheckPermissionResponse
	require.NoError(t, proto.Unmarshal(out, &resp))
	require.Equal(t, v1.CheckPermissionResponse_PERMISSIONSHIP_NO_PERMISSION, resp.GetPermissionship())
	_, err = call(&v1.CheckPermissionRequest{Resource: obj("document", "d1"), Permission: "view", Subject: subj("user", "ana", ""),
		Context: &structpb.Struct{Fields: map[string]*structpb.Value{"k": structpb.NewStringValue("\xff")}}})
	requireStatus(t, err, codes.Internal, "")
}

// unmarshalCheck (and the codec, into a checkCall) decodes as UnmarshalVT
// does, and refuses what it refuses: on requests with and without each
// field, empty or not, with fields repeated or unknown ones, and on those
// encodings cut short or with a byte changed. decodeCheck takes the usual
// ones.
func TestUnmarshalCheck(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	pick := func(s ...string) string { return s[r.IntN(len(s))] }
	object := func() *v1.ObjectReference {
		switch r.IntN(4) {
		case 0:
			return nil
		case 1:
			return &v1.ObjectReference{}
		}
		return obj(pick("document", "", "d\u00e9f"), pick("d1", "", "x", "a-much-longer-object-id-than-most"))
	}
	request := func() *v1.CheckPermissionRequest {
		m := &v1.CheckPermissionRequest{Resource: object(), Permission: pick("", "view", "edit")}
		if r.IntN(4) > 0 {
			m.Subject = &v1.SubjectReference{Object: object(), OptionalRelation: pick("", "member")}
		}
		switch r.IntN(5) {
		case 0:
			m.Consistency = &v1.Consistency{Requirement: &v1.Consistency_FullyConsistent{FullyConsistent: true}}
		case 1:
			m.Consistency = &v1.Consistency{Requirement: &v1.Consistency_AtLeastAsFresh{AtLeastAsFresh: &v1.ZedToken{Token: "tok"}}}
		case 2:
			m.Consistency = &v1.Consistency{}
		}
		m.WithTracing = r.IntN(4) == 0
		if r.IntN(6) == 0 {
			m.Context = &structpb.Struct{Fields: map[string]*structpb.Value{"k": structpb.NewStringValue(pick("v", "w"))}}
		}
		return m
	}
	unknown := func() []byte { // a field the API does not know, of some type
		switch r.IntN(3) {
		case 0:
			return protowire.AppendVarint(protowire.AppendTag(nil, 99, protowire.VarintType), 7)
		case 1:
			return protowire.AppendBytes(protowire.AppendTag(nil, 15, protowire.BytesType), []byte("x"))
		}
		return protowire.AppendFixed32(protowire.AppendTag(nil, 7, protowire.Fixed32Type), 1)
	}
	encode := func() []byte {
		b, err := request().MarshalVT()
		require.NoError(t, err)
		if r.IntN(4) == 0 { // fields again: decoders merge them
			more, err := request().MarshalVT()
			require.NoError(t, err)
			b = append(b, more...)
		}
		switch r.IntN(8) {
		case 0:
			b = append(b, unknown()...)
		case 1: // in the resource, in the subject or in its object
			var inner []byte
			switch r.IntN(3) {
			case 0:
				inner = protowire.AppendBytes(protowire.AppendTag(nil, 2, protowire.BytesType), unknown())
			case 1:
				inner = protowire.AppendBytes(protowire.AppendTag(nil, 4, protowire.BytesType), unknown())
			default:
				o := protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), unknown())
				inner = protowire.AppendBytes(protowire.AppendTag(nil, 4, protowire.BytesType), o)
			}
			b = append(b, inner...)
		case 2: // a known field of the wrong type
			b = append(b, protowire.AppendVarint(protowire.AppendTag(nil, protowire.Number(1+r.IntN(5)), protowire.VarintType), 1)...)
		case 3: // with_tracing as a long varint
			b = append(b, protowire.AppendTag(nil, 6, protowire.VarintType)...)
			b = append(b, 0x80, 0x80, 0x01)
		}
		return b
	}
	fast := 0
	for i := range 20000 {
		b := encode()
		if i%2 == 1 && len(b) > 0 { // broken: cut short, or a byte changed
			if r.IntN(2) == 0 {
				b = b[:r.IntN(len(b))]
			} else {
				b[r.IntN(len(b))] ^= byte(1 + r.IntN(255))
			}
		}
		want := &v1.CheckPermissionRequest{}
		wantErr := want.UnmarshalVT(b)
		var p checkParts
		if decodeCheck(&v1.CheckPermissionRequest{}, b, &p) {
			fast++
			require.NoError(t, wantErr, "decodeCheck takes what UnmarshalVT refuses: %x", b)
		}
		got := &v1.CheckPermissionRequest{}
		err := unmarshalCheck(got, b)
		c := new(checkCall)
		cerr := newCodec().Unmarshal(mem.BufferSlice{mem.SliceBuffer(b)}, c)
		if wantErr != nil {
			require.Error(t, err, "%x", b)
			require.Equal(t, wantErr.Error(), err.Error())
			require.Error(t, cerr, "%x", b)
			continue
		}
		require.NoError(t, err, "%x", b)
		for _, got := range []*v1.CheckPermissionRequest{got, &c.CheckPermissionRequest} {
			require.True(t, proto.Equal(want, got), "decoded %v, want %v (%x)", got, want, b)
			require.Equal(t, want.Resource == nil, got.Resource == nil)
			require.Equal(t, want.Subject == nil, got.Subject == nil)
			require.Equal(t, want.GetSubject().GetObject() == nil, got.GetSubject().GetObject() == nil)
			require.Equal(t, want.Consistency == nil, got.Consistency == nil)
		}
		// The codec refuses a request with a string that is not UTF-8,
		// as protobuf does; but it checks the request decoded, where
		// protobuf checks every string as it decodes it, even one that a
		// later field then replaces.
		require.Equal(t, validUTF8(want.ProtoReflect()), cerr == nil, "%v (%x)", cerr, b)
		if perr := proto.Unmarshal(b, &v1.CheckPermissionRequest{}); perr == nil {
			require.NoError(t, cerr)
		}
	}
	require.Greater(t, fast, 5000, "decodeCheck took too few")
	// The usual request is decodeCheck's.
	b, err := checkRequestForCodec().MarshalVT()
	require.NoError(t, err)
	require.True(t, decodeCheck(&v1.CheckPermissionRequest{}, b, new(checkParts)))
	// A broken encoding fails as UnmarshalVT fails.
	require.Error(t, unmarshalCheck(&v1.CheckPermissionRequest{}, []byte{0x12, 0x05, 0x0a}))
}

// A checkCall is decoded as its request, refused as it would be, and a
// checkReply encoded as its response, into the slice it holds.
func TestCodecCheckCall(t *testing.T) {
	c := newCodec()
	bad, err := (&v1.CheckPermissionRequest{Resource: obj("document", "d1"), Permission: "view", Subject: subj("user", "ana", ""),
		Context: &structpb.Struct{Fields: map[string]*structpb.Value{"k": structpb.NewStringValue("\xff")}}}).MarshalVT()
	require.NoError(t, err)
	require.ErrorContains(t, c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(bad)}, new(checkCall)), "invalid UTF-8")
	require.Error(t, c.Unmarshal(mem.BufferSlice{mem.SliceBuffer([]byte{0x12, 0x05, 0x0a})}, new(checkCall)))

	r := new(checkReply)
	r.tok.Token = "GhUKEzE3MzM0ODg2NzQwMDAwMDAwMDA="
	r.CheckedAt = &r.tok
	r.Permissionship = v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION
	want, err := r.CheckPermissionResponse.MarshalVT()
	require.NoError(t, err)
	out, err := c.Marshal(r)
	require.NoError(t, err)
	require.Equal(t, want, out.Materialize())
	require.Len(t, out, 1)
	require.Same(t, &r.out[0], &out[0])
	out.Free()
}
