package serve

import (
	"errors"
	"net/http"
	"os"
	"strings"

	"github.com/etl-toolkit/etl/sources/asi"
)

func lookupSecret(env string) string { return os.Getenv(env) }

func (s *Server) routes() {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /hooks/azumio/{pipeline}", s.azumio)
	mux.HandleFunc("POST /hooks/azumio/{pipeline}/{user}", s.azumio)
	mux.HandleFunc("POST /hooks/asi/{pipeline}", s.asi)
	mux.Handle("GET /metrics", s.metrics.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !s.ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready\n"))
	})
	s.mux = mux
}

// hook finds the pipeline a receiver call names, answering the call itself
// (and counting it) when there is none or the server is stopping.
func (s *Server) hook(w http.ResponseWriter, r *http.Request, receiver string, enabled func(*pipe) bool) *pipe {
	name := r.PathValue("pipeline")
	p, ok := s.pipes[name]
	if !ok || !enabled(p) {
		s.metrics.Event(receiver, name, ResultUnknown)
		http.Error(w, "no pipeline "+name+" with a "+receiver+" receiver", http.StatusNotFound)
		return nil
	}
	if s.stopping.Load() {
		s.metrics.Event(receiver, name, ResultShutdown)
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return nil
	}
	return p
}

// azumio receives Azumio's empty-body POSTs. The user is the one the callback
// URL named at subscription time: the last path segment, or the user query
// parameter (which Azumio's delivery adds). It answers 202 at once; the pull of
// unit user/<id> runs afterwards.
func (s *Server) azumio(w http.ResponseWriter, r *http.Request) {
	p := s.hook(w, r, "azumio", func(p *pipe) bool { return p.cfg.Azumio })
	if p == nil {
		return
	}
	user := r.PathValue("user")
	if user == "" {
		user = r.URL.Query().Get("user")
	}
	if user == "" || strings.ContainsAny(user, "/ \t\n") {
		s.metrics.Event("azumio", p.name, ResultBadRequest)
		http.Error(w, "no user: want /hooks/azumio/"+p.name+"?user=<id> or /hooks/azumio/"+p.name+"/<id>", http.StatusBadRequest)
		return
	}
	result := s.enqueue(p, "user/"+user)
	s.metrics.Event("azumio", p.name, result)
	s.log.Debug("serve: azumio webhook", "pipeline", p.name, "user", user, "result", result)
	w.WriteHeader(http.StatusAccepted)
}

// ResultDeleted counts ASI events of deleted time frames: recorded, no pull
// (the time frame can no longer be read).
const ResultDeleted = "timeframe_deleted"

// asi receives ASI activity webhooks. The X-Asi-Api-Token header is compared in
// constant time with the secret (asi.ParseWebhook); a wrong or missing one is
// answered 401 and logged without the secret. A time frame event pulls unit
// timeframe/<id> (re-read from the API: the body has ids only); an activity
// event pulls the whole pipeline, whose time frames are found by listing.
func (s *Server) asi(w http.ResponseWriter, r *http.Request) {
	p := s.hook(w, r, "asi", func(p *pipe) bool { return p.asi != "" })
	if p == nil {
		return
	}
	ev, err := asi.ParseWebhook(r, p.asi)
	switch {
	case errors.Is(err, asi.ErrWebhookSecret):
		s.metrics.Event("asi", p.name, ResultUnauthorized)
		s.log.Warn("serve: asi webhook refused: wrong or missing "+asi.WebhookHeader, "pipeline", p.name, "remote", r.RemoteAddr)
		http.Error(w, "wrong or missing "+asi.WebhookHeader, http.StatusUnauthorized)
		return
	case err != nil:
		s.metrics.Event("asi", p.name, ResultBadRequest)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	unit := ev.Unit()
	var result string
	switch {
	case strings.HasSuffix(ev.Event, "-deleted") && unit != "":
		result = ResultDeleted
		s.log.Info("serve: asi time frame deleted; nothing to pull", "pipeline", p.name, "unit", unit, "event", ev.Event)
	case unit != "":
		result = s.enqueue(p, unit)
	case ev.Data.ActivityID != 0:
		p.q.addFull(s.clock.Now())
		result = ResultAccepted
	default:
		s.metrics.Event("asi", p.name, ResultBadRequest)
		http.Error(w, "event names no activity or time frame", http.StatusBadRequest)
		return
	}
	s.metrics.Event("asi", p.name, result)
	s.log.Debug("serve: asi webhook", "pipeline", p.name, "event", ev.Event, "unit", unit, "result", result)
	w.WriteHeader(http.StatusAccepted)
}
