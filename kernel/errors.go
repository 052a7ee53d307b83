package kernel

import "errors"

// Errors returned by the kernel. Calls wrap them with context; test with
// errors.Is.
var (
	ErrInvalidName   = errors.New("kernel: invalid port name")
	ErrInvalidRight  = errors.New("kernel: invalid right for this operation")
	ErrInvalidValue  = errors.New("kernel: invalid argument")
	ErrNameExists    = errors.New("kernel: name already in use")
	ErrTimedOut      = errors.New("kernel: timed out")
	ErrPortDead      = errors.New("kernel: port is dead")
	ErrQueueFull     = errors.New("kernel: port queue is full")
	ErrMsgTooLarge   = errors.New("kernel: message too large")
	ErrTaskDead      = errors.New("kernel: task is terminated")
	ErrNodeDown      = errors.New("kernel: node is shut down")
	ErrNoLink        = errors.New("kernel: no link to that node")
	ErrNotRegistered = errors.New("kernel: no port registered under that name")
	// ErrNotRecorded: the task's recorder refused a message; the kernel
	// holds it and offers it again at the task's next receive.
	ErrNotRecorded = errors.New("kernel: message not recorded")
)
