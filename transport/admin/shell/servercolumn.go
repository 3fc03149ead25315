package shell

import (
	"slices"
	"strings"

	"github.com/transportd/transportd/transport/admin/manage"
)

// serverColumn drops a default "Server" column that no record carries:
// queues and messages have a Server only on a cluster member (issue 14),
// where it names the member that holds them; a single server shows the
// table it always did.
func serverColumn(recs []manage.Record, columns []string) []string {
	i := slices.IndexFunc(columns, func(c string) bool { return strings.EqualFold(c, "Server") })
	if i < 0 {
		return columns
	}
	for _, r := range recs {
		if _, ok := r.Get("Server"); ok {
			return columns
		}
	}
	return slices.Delete(slices.Clone(columns), i, i+1)
}
