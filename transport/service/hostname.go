package service

import (
	"log/slog"

	"github.com/transportd/transportd/connector"
	"github.com/transportd/transportd/transport/admin/config"
)

// warnUnqualified says loudly when the server FQDN has no domain part: the
// greeting, the EHLO to smart hosts and DSN senders then carry a name that
// no other server can resolve, and many refuse such a HELO.
func warnUnqualified(log *slog.Logger, cfg *config.Config) {
	if connector.IsQualified(cfg.Server.Fqdn) {
		return
	}
	log.Warn("THE SERVER NAME IS NOT FULLY QUALIFIED: the 220 greeting, HELO to smart hosts and DSNs will say "+
		cfg.Server.Fqdn+", which other servers cannot resolve and often refuse. Give the host a domain "+
		"(\"hostname -f\" must print e.g. mail.contoso.com: add \"127.0.1.1 mail.contoso.com mail\" to /etc/hosts) "+
		"or set Server.Fqdn in "+cfg.Path(),
		"fqdn", cfg.Server.Fqdn, "config", cfg.Path())
}
