package control

// PublishedTask is one published task a node runs (GET /publish): a task
// whose messages are logged in its bank and replayed after a crash.
type PublishedTask struct {
	Node         string `json:"node"`
	Bank         string `json:"bank"`
	Name         string `json:"name"` // BANK/PROGRAM
	Program      string `json:"program"`
	Incarnations int    `json:"incarnations"` // times it was (re)started
	Handled      uint64 `json:"handled"`      // messages received and handled
	Replayed     uint64 `json:"replayed"`     // messages replayed from its log
	Suppressed   uint64 `json:"suppressed"`   // re-sends discarded during recoveries
	Sent         uint64 `json:"sent"`         // highest number it has sent
	Refused      uint64 `json:"refused"`      // messages it waited on: its bank refused to record them
	Checkpoints  int    `json:"checkpoints"`  // checkpoints taken by this incarnation's manager
	LogBytes     int    `json:"log_bytes"`    // messages logged since the last checkpoint
	CkptBytes    int    `json:"ckpt_bytes"`   // size of the last checkpoint
	Error        string `json:"error,omitempty"`
}

// PublishSendRequest sends Body to the published task Task (BANK/PROGRAM)
// from the node's control client and waits for the task's reply (POST
// /publish/send).
type PublishSendRequest struct {
	Task string `json:"task"`
	Body string `json:"body"`
}

// PublishSendReply is the reply of the published task to a
// PublishSendRequest.
type PublishSendReply struct {
	Node  string `json:"node"`
	Reply string `json:"reply"`
}
