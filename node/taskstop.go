package node

import (
	"errors"
	"net/http"

	"github.com/ftm-in-go/ftm/node/control"
	"github.com/ftm-in-go/ftm/stm"
	"github.com/ftm-in-go/ftm/task"
)

// stopTaskRoute serves POST /stop: it stops a running stable task for good
// (ftmctl stop), answering with its record.
func stopTaskRoute(node string, tasks *task.Server) func(*http.ServeMux) {
	return func(mux *http.ServeMux) {
		mux.HandleFunc("POST /stop", func(w http.ResponseWriter, r *http.Request) {
			var req removeRequest // the same body: bank and task
			if !decodeBody(w, r, &req) {
				return
			}
			key := control.TaskKey(req.Bank, req.Task)
			rec, err := tasks.Stop(r.Context(), req.Bank, req.Task)
			switch {
			case errors.Is(err, task.ErrNoTask):
				http.Error(w, "node "+node+" lists no task "+key, http.StatusNotFound)
			case errors.Is(err, task.ErrNotRunning):
				http.Error(w, "task "+key+" has already ended: only a running task is stopped ('ftmctl rm "+key+"' removes it)", http.StatusConflict)
			case errors.Is(err, stm.ErrNoBackup):
				http.Error(w, "node "+node+" has no backup attached, so the stop cannot be recorded and task "+key+" runs on (once the partner is back: 'ftmctl wait protected', then stop again)", http.StatusConflict)
			case err != nil:
				http.Error(w, err.Error(), http.StatusInternalServerError)
			default:
				writeJSON(w, rec)
			}
		})
	}
}
