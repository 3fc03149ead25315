package jsstore

import "time"

// LeaseTTL is how long a member that stopped renewing its lease keeps its
// messages before the others take them over.
func (s *Store) LeaseTTL() time.Duration { return s.o.LeaseTTL }
