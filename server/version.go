package server

import (
	"context"
	"regexp"
	"strings"

	"github.com/authzed/authzed-go/pkg/requestmeta"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// The server's version, as SpiceDB reports its own: a client that sends
// the request header io.spicedb.requestversion (zed does, on every call)
// gets the version in the response trailer io.spicedb.debug.version, once
// the key is checked (SpiceDB's serverversion middleware runs after its
// auth middleware). zed compares a plain semantic version with SpiceDB's
// latest release and warns that "the version of SpiceDB being called is
// out of date"; it warns "not calling a released version of SpiceDB" when
// no version comes or it is not a semantic version; it compares nothing
// when the version has build metadata. So the version sent is reach's with
// the build metadata "reach" (v1.2.0 becomes v1.2.0+reach), and one that
// is not a semantic version (a build without a version, "(devel)") becomes
// v0.0.0+reach.devel: zed then stays quiet and `zed version` names reach.

// wireVersion is the version sent for reach's version v ("" for none).
func wireVersion(v string) string {
	v = strings.TrimSpace(v)
	if v == "" {
		return ""
	}
	if !strings.HasPrefix(v, "v") && semverRE.MatchString("v"+v) {
		v = "v" + v
	}
	if !semverRE.MatchString(v) {
		id := strings.Trim(nonIdent.ReplaceAllString(v, "-"), "-")
		if id == "" {
			return "v0.0.0+reach"
		}
		return "v0.0.0+reach." + id
	}
	if strings.Contains(v, "+") {
		return v + ".reach"
	}
	return v + "+reach"
}

// semverRE is a semantic version (semver.org 2.0.0) with Go's leading v.
var semverRE = regexp.MustCompile(`^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)` +
	`(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?` +
	`(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$`)

var nonIdent = regexp.MustCompile(`[^0-9A-Za-z-]+`)

// wantsVersion reports whether a request asks for the server's version.
func wantsVersion(ctx context.Context) bool {
	return hasIncoming(ctx, string(requestmeta.RequestServerVersion))
}

// hasIncoming reports whether the request's metadata has key (in lower
// case), copying nothing when it has not.
func hasIncoming(ctx context.Context, key string) bool {
	return len(metadata.ValueFromIncomingContext(ctx, key)) > 0
}

// versionTrailer is the trailer that answers a request for the version
// (nil when the request does not ask or the server reports none). It is
// made once: gRPC copies a trailer it is given.
func (s *Server) versionTrailer(ctx context.Context) metadata.MD {
	if s.versionMD == nil || !wantsVersion(ctx) {
		return nil
	}
	return s.versionMD
}

// reportVersion sets the version trailer of a unary call that asks for it.
func (s *Server) reportVersion(ctx context.Context) {
	if md := s.versionTrailer(ctx); md != nil {
		_ = grpc.SetTrailer(ctx, md) // fails only once the call has ended
	}
}
