package node

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/ftm-in-go/ftm/node/control"
	"github.com/ftm-in-go/ftm/pair"
	"github.com/ftm-in-go/ftm/stm"
	"github.com/ftm-in-go/ftm/task"
)

// taskRoutes serves POST /run, GET /ps and POST /rm on the control socket.
func taskRoutes(node string, stable *pair.Stable, tasks *task.Server) func(*http.ServeMux) {
	return func(mux *http.ServeMux) {
		mux.HandleFunc("POST /run", func(w http.ResponseWriter, r *http.Request) {
			var req control.RunRequest
			if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&req); err != nil {
				http.Error(w, "bad request: "+err.Error(), http.StatusBadRequest)
				return
			}
			bank := stable.Own()
			if bank == nil {
				http.Error(w, "node "+node+" holds no bank of its own (it rejoined empty); run the task on its partner", http.StatusConflict)
				return
			}
			rec, err := tasks.Start(r.Context(), task.Bank{Name: node, STM: bank}, req.Program, req.Args)
			switch {
			case errors.Is(err, task.ErrUnknownProgram):
				http.Error(w, err.Error(), http.StatusNotFound)
			case errors.Is(err, task.ErrBadArgs):
				http.Error(w, err.Error(), http.StatusBadRequest)
			case errors.Is(err, stm.ErrNoBackup):
				http.Error(w, "node "+node+" has no backup attached, so it cannot record a stable task (is its partner up?)", http.StatusConflict)
			case err != nil:
				http.Error(w, err.Error(), http.StatusInternalServerError)
			default:
				writeJSON(w, rec)
			}
		})
		mux.HandleFunc("GET /ps", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, tasks.List()) })
		mux.HandleFunc("POST /rm", func(w http.ResponseWriter, r *http.Request) { removeTask(w, r, node, tasks) })
	}
}

// removeRequest names the ended task POST /rm removes.
type removeRequest struct {
	Bank string `json:"bank"`
	Task uint64 `json:"task"`
}

// removeTask removes an ended task from the bank this node holds it in,
// answering with its record.
func removeTask(w http.ResponseWriter, r *http.Request, node string, tasks *task.Server) {
	var req removeRequest
	if !decodeBody(w, r, &req) {
		return
	}
	rec, err := tasks.Remove(r.Context(), req.Bank, req.Task)
	switch {
	case errors.Is(err, task.ErrNoTask):
		http.Error(w, "node "+node+" lists no task "+control.TaskKey(req.Bank, req.Task), http.StatusNotFound)
	case errors.Is(err, task.ErrStillRunning):
		http.Error(w, "task "+control.TaskKey(req.Bank, req.Task)+" is still running: only an ended task is removed", http.StatusConflict)
	case errors.Is(err, stm.ErrNoBackup):
		http.Error(w, "node "+node+" has no backup attached, so it cannot remove a stable task (is its partner up?)", http.StatusConflict)
	case err != nil:
		http.Error(w, err.Error(), http.StatusInternalServerError)
	default:
		writeJSON(w, rec)
	}
}
