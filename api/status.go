package api

import (
	"net/http"
)

func (s *Server) capabilities(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"aggregation_methods": capabilityMethods()})
}

// status is /v1/status: the backlog of measures waiting to be processed
// (per metric unless details=false, Gnocchi's default being true), and
// vigil's count of points dropped as older than their back window.
func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	if err := requireAdmin(r.Context()); err != nil {
		writeError(w, err)
		return
	}
	details := true
	if r.URL.Query().Has("details") {
		var err error
		if details, err = boolParam(r, "details"); err != nil {
			writeError(w, err)
			return
		}
	}
	var rep BacklogReport
	if s.d.Backlog != nil {
		var err error
		if rep, err = s.d.Backlog.Backlog(r.Context()); err != nil {
			s.d.Log.Warn("cannot report the backlog", "err", err)
			writeError(w, errorf(http.StatusServiceUnavailable, "Unable to generate status. Please retry."))
			return
		}
	}
	storage := map[string]any{"summary": map[string]any{"metrics": rep.Metrics, "measures": rep.Measures}}
	if details {
		per := make(map[string]int64, len(rep.PerMetric))
		for id, n := range rep.PerMetric {
			per[id.String()] = n
		}
		storage["measures_to_process"] = per
	}
	dropped := map[string]int64{}
	var total int64
	if s.d.Status != nil {
		for id, n := range s.d.Status.DroppedLate() {
			dropped[id.String()] = n
			total += n
		}
	}
	storage["dropped_late_measures"] = map[string]any{"total": total, "details": dropped}
	writeJSON(w, http.StatusOK, map[string]any{
		"storage": storage,
		"metricd": map[string]any{"processors": nil, "statistics": map[string]any{}},
	})
}
