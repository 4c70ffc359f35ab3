package server

import (
	"net/http"
	"strings"
)

// playgroundPath is where Config.Playground is served on the HTTP listener.
const playgroundPath = "/playground"

// withPlayground serves Config.Playground under /playground/ and passes
// every other request to api. A team's shared playground (reach serve
// --playground) is behind the API's key: a script sends it as a bearer
// token, and a browser, which cannot, is asked for it with HTTP Basic
// authentication (any user name, the key as the password).
func (s *Server) withPlayground(api http.Handler) http.Handler {
	pg := http.StripPrefix(playgroundPath, s.cfg.Playground)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == playgroundPath:
			http.Redirect(w, r, playgroundPath+"/", http.StatusMovedPermanently)
			return
		case !strings.HasPrefix(r.URL.Path, playgroundPath+"/"):
			api.ServeHTTP(w, r)
			return
		}
		auth := r.Header.Values("Authorization")
		if _, key, ok := r.BasicAuth(); ok {
			auth = []string{bearerPrefix + key}
		}
		if err := s.checkKey(auth); err != nil {
			w.Header().Set("WWW-Authenticate", `Basic realm="reach playground", charset="UTF-8"`)
			w.Header().Set("Connection", "close")
			http.Error(w, "the playground needs the server's key: give it as the password", http.StatusUnauthorized)
			return
		}
		pg.ServeHTTP(w, r)
	})
}
