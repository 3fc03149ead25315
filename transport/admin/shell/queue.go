package shell

import (
	"github.com/transportd/transportd/transport/admin/manage"
	"github.com/transportd/transportd/transport/admin/registry"
	"github.com/transportd/transportd/transport/mail/queue"
)

// QueueRecord shows a queue with Get-Queue's property names.
func QueueRecord(q queue.QueueInfo) manage.Record { return registry.QueueRecord(q) }

// MessageRecord shows a queued message with Get-Message's property names.
func MessageRecord(mi queue.MessageInfo) manage.Record { return registry.MessageRecord(mi) }
