package control

import "time"

// The operations the daemon answers on the socket, and what they take and
// return. Their names are the shell's noun-verb pairs. Every operation
// takes a Selector; OpQueueGet returns []Queue, OpMessageGet []Message,
// the others Changed.
const (
	OpQueueGet       = "queue.get"
	OpQueueRetry     = "queue.retry"
	OpMessageGet     = "message.get"
	OpMessageSuspend = "message.suspend"
	OpMessageResume  = "message.resume"
	OpMessageRemove  = "message.remove"

	// Suspend-Queue and Resume-Queue: Selector.Identity names one queue.
	OpQueueSuspend = "queue.suspend"
	OpQueueResume  = "queue.resume"
)

// Selector picks queues and messages: identities with * wildcards.
type Selector struct {
	Identity string `json:"identity,omitempty"`
	Queue    string `json:"queue,omitempty"`
	WithNDR  bool   `json:"withndr,omitempty"`
	// Resubmit sends a queue's messages back to the categorizer
	// (Retry-Queue -Resubmit $true).
	Resubmit bool `json:"resubmit,omitempty"`

	// Issue 14: in a cluster, the member whose queues and messages to
	// act on (-Server); empty means every member.
	Server string `json:"server,omitempty"`
}

// Changed reports how many objects an operation touched.
type Changed struct {
	Count int `json:"count"`
	// Kept is, for cluster leave, how many queued messages stay with this
	// server: a member that never moved onto the shared queue (the cluster
	// never had three members) keeps its own journal and delivers it.
	Kept int `json:"kept,omitempty"`
	// OwnQueue says the member queued on its own journal (cluster leave).
	OwnQueue bool `json:"own_queue,omitempty"`
}

// Queue is one delivery queue as Get-Queue shows it.
type Queue struct {
	// Identity is Exchange's SERVER\NextHop form.
	Identity      string
	DeliveryType  string
	NextHopDomain string
	Status        string
	MessageCount  int
	LastError     string
	NextRetryTime time.Time

	LastRetryTime  time.Time
	FirstRetryTime time.Time
	RetryCount     int

	// Server is the member the queue is on (in a cluster; empty on a
	// single server).
	Server string `json:",omitempty"`
}

// Message is one queued message as Get-Message shows it.
type Message struct {
	// Identity is Exchange's SERVER\Queue\Id form.
	Identity       string
	FromAddress    string
	Recipients     []Recipient
	Status         string
	Size           int64
	DateReceived   time.Time
	Queue          []string
	LastError      string
	Subject        string
	SourceIP       string
	NextRetryTime  time.Time
	RetryCount     int
	ExpirationTime time.Time

	InternetMessageId string
	MessageSourceName string

	// Server is the member that holds the message (in a cluster; empty
	// on a single server).
	Server string `json:",omitempty"`
}

// Recipient is one recipient of a queued message and where it stands.
type Recipient struct {
	Address   string    `json:"address"`
	Status    string    `json:"status"`
	Attempts  int       `json:"attempts,omitempty"`
	NextRetry time.Time `json:"next_retry,omitempty"`
	LastError string    `json:"last_error,omitempty"`
	Queue     string    `json:"queue,omitempty"`
}
