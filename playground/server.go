package playground

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/reach-authz/reach/engine"
)

//go:embed static
var staticFiles embed.FS

// Options bound what the server accepts. The zero value gives the defaults.
type Options struct {
	// MaxBody is the largest request body, in bytes (default 1 MiB).
	MaxBody int64
	// MaxRelationships is the most relationships a state may hold (default
	// 10,000).
	MaxRelationships int
	// Timeout bounds each request (default 10 s).
	Timeout time.Duration
	// Cached is how many loaded states are kept for the next requests
	// (default 8).
	Cached int
	// Log receives one line per failed request (default: discard).
	Log *slog.Logger
}

const (
	defaultMaxBody          = 1 << 20
	defaultMaxRelationships = 10_000
	defaultTimeout          = 10 * time.Second
	defaultCached           = 8
)

// Server serves the page and its API. It is an http.Handler.
type Server struct {
	opts  Options
	mux   *http.ServeMux
	cache *envCache
}

// New returns a Server.
func New(opts Options) *Server {
	if opts.MaxBody <= 0 {
		opts.MaxBody = defaultMaxBody
	}
	if opts.MaxRelationships <= 0 {
		opts.MaxRelationships = defaultMaxRelationships
	}
	if opts.Timeout <= 0 {
		opts.Timeout = defaultTimeout
	}
	if opts.Cached <= 0 {
		opts.Cached = defaultCached
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	s := &Server{opts: opts, mux: http.NewServeMux(), cache: newEnvCache(opts.Cached)}
	static, _ := fs.Sub(staticFiles, "static")
	files := http.FileServerFS(static)
	s.mux.Handle("GET /", noCache(files))
	s.mux.HandleFunc("GET /api/seeds", s.handleSeeds)
	s.mux.HandleFunc("GET /api/seeds/{name}", s.handleSeed)
	s.api("POST /api/analyze", s.analyze)
	s.api("POST /api/check", s.check)
	s.api("POST /api/lookup/resources", s.lookupResources)
	s.api("POST /api/lookup/subjects", s.lookupSubjects)
	s.api("POST /api/expand", s.expand)
	s.api("POST /api/matrix", s.matrix)
	s.api("POST /api/impact", s.impact)
	s.api("POST /api/file/parse", s.parseFile)
	s.api("POST /api/file/save", s.saveFile)
	return s
}

// ServeHTTP serves the page and the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	// Nothing may load from elsewhere: the page is self-contained.
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; connect-src 'self'")
	s.mux.ServeHTTP(w, r)
}

// Close releases the cached states.
func (s *Server) Close() error {
	s.cache.closeAll()
	return nil
}

func noCache(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		h.ServeHTTP(w, r)
	})
}

// apiError is an error with its HTTP status.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &apiError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

func unprocessable(format string, args ...any) error {
	return &apiError{http.StatusUnprocessableEntity, fmt.Sprintf(format, args...)}
}

// api registers a JSON endpoint: the body is decoded into the handler's
// request type (at most MaxBody bytes), the handler runs under the
// request's deadline, and its result (or error) is encoded.
func (s *Server) api(pattern string, h func(ctx context.Context, body json.RawMessage) (any, error)) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), s.opts.Timeout)
		defer cancel()
		r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxBody)
		var body json.RawMessage
		dec := json.NewDecoder(r.Body)
		err := dec.Decode(&body)
		var res any
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				err = &apiError{http.StatusRequestEntityTooLarge, fmt.Sprintf("the request is larger than %d bytes", s.opts.MaxBody)}
			} else {
				err = badRequest("the request is not JSON: %v", err)
			}
		} else {
			res, err = h(ctx, body)
		}
		if err != nil {
			status := http.StatusInternalServerError
			var ae *apiError
			switch {
			case errors.As(err, &ae):
				status = ae.status
			case errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil:
				status = http.StatusGatewayTimeout
				err = fmt.Errorf("the request took longer than %s: %w", s.opts.Timeout, err)
			case errors.Is(err, engine.ErrUnknown), errors.Is(err, engine.ErrWildcardSubject):
				status = http.StatusBadRequest
			}
			s.opts.Log.Info("playground request failed", "path", r.URL.Path, "status", status, "err", err)
			writeJSON(w, status, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, res)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// decode reads a request body into v, refusing unknown fields.
func decode(body json.RawMessage, v any) error {
	dec := json.NewDecoder(bytesReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("bad request: %v", err)
	}
	return nil
}
