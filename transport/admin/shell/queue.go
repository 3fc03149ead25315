package shell

import (
	"github.com/transportd/transportd/transport/admin/control"
	"github.com/transportd/transportd/transport/admin/manage"
	"github.com/transportd/transportd/transport/admin/registry"
)

// QueueRecord shows a queue with Get-Queue's property names.
func QueueRecord(q control.Queue) manage.Record { return registry.QueueRecord(q) }

// MessageRecord shows a queued message with Get-Message's property names.
func MessageRecord(mi control.Message) manage.Record { return registry.MessageRecord(mi) }
