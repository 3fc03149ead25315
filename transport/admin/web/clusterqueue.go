package web

import "github.com/transportd/transportd/transport/admin/manage"

// hasServer tells that the records name the member that holds them: the
// admin center of a cluster member (issue 14) shows every member's queues
// and messages, with a Server column.
func hasServer(recs []manage.Record) bool {
	for _, r := range recs {
		if _, ok := r.Get("Server"); ok {
			return true
		}
	}
	return false
}
