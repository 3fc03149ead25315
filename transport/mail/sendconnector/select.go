package sendconnector

import "strings"

// Select picks the send connector for a recipient domain and a message of
// size bytes, with Exchange's routing rules: connectors that are disabled
// or whose MaxMessageSize (0 = unlimited) is smaller than the message are
// dropped; of those whose address spaces match the domain, the most specific
// match wins (exact domain, then the wildcard with more labels, then "*"),
// then the lowest cost, then the name. It returns nil when none matches:
// the message goes to the Unreachable queue.
func Select(cs []SendConnector, domain string, size int64) *SendConnector {
	var (
		best     *SendConnector
		bestSpec int
		bestCost int
	)
	for i := range cs {
		c := &cs[i]
		if !c.Enabled || (c.MaxMessageSize > 0 && int64(c.MaxMessageSize) < size) {
			continue
		}
		as, spec, ok := c.AddressSpaces.Best(domain)
		if !ok {
			continue
		}
		switch {
		case best == nil,
			spec > bestSpec,
			spec == bestSpec && as.Cost < bestCost,
			spec == bestSpec && as.Cost == bestCost && lessName(c.Name, best.Name):
			best, bestSpec, bestCost = c, spec, as.Cost
		}
	}
	return best
}

func lessName(a, b string) bool {
	la, lb := strings.ToLower(a), strings.ToLower(b)
	if la != lb {
		return la < lb
	}
	return a < b
}
