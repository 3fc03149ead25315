package registry

import (
	"fmt"
	"strings"

	"github.com/transportd/transportd/transport/admin/manage"
)

// inert is an Exchange parameter that has no meaning for transportd: it is
// accepted, so that Microsoft's scripts run as written, and says in one
// warning line why it does nothing here.
type inert struct {
	name string
	why  string
}

// inertParams declares the parameters of list, for Get-Help and completion.
func inertParams(list []inert) []Param {
	out := make([]Param, 0, len(list))
	for _, x := range list {
		out = append(out, Param{Name: x.name, Help: "accepted, does nothing here: " + x.why})
	}
	return out
}

// takeInert removes the parameters of list from ps, with one warning each.
func takeInert(env *Env, ps *manage.Params, list []inert) {
	for _, x := range list {
		if v, ok := ps.TakeExact(x.name); ok {
			env.warn("-%s %s is accepted but does nothing here: %s", x.name, v, x.why)
		}
	}
}

// warn passes a one-line warning to the admin (WARNING: in the shell).
func (e *Env) warn(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	msg = strings.ReplaceAll(msg, "\n", " ")
	if e.Manager != nil && e.Manager.Warn != nil {
		e.Manager.Warn(msg)
		return
	}
	e.say("WARNING: %s", msg)
}

const oneServer = "transportd is a single server without Active Directory sites"

// sendConnectorInert are New-/Set-SendConnector parameters without a
// meaning here.
var sendConnectorInert = []inert{
	{"IsScopedConnector", oneServer + "; every connector is used by this server"},
	{"SourceTransportServers", oneServer + "; the connector is always used by this server"},
	{"CloudServicesMailEnabled", "there are no cross-premises X-MS-Exchange headers to keep; headers pass unchanged"},
	{"FrontendProxyEnabled", "there is no separate Client Access service to proxy through; this server connects itself"},
	{"RequireOorg", "reserved for internal Microsoft use"},
	{"IsCoexistenceConnector", "Exchange 2010 hybrid only; use -RequireTLS $true for a Microsoft 365 smart host"},
	{"LinkedReceiveConnector", "Exchange 2010 only; route with -AddressSpaces instead"},
	{"DomainSecureEnabled", "mutual TLS domain security needs Exchange's TLSSendDomainSecureList; use -RequireTLS $true -TlsAuthLevel DomainValidation"},
	{"ConnectorType", "hybrid (XPremises) connectors are Exchange Online's; this connector is a plain send connector"},
	{"Region", "reserved for internal Microsoft use"},
}

// transportServiceInert are Set-TransportService parameters without a
// meaning here: logs transportd does not write, Windows services and agents.
var transportServiceInert = func() []inert {
	var out []inert
	for _, l := range []struct{ prefix, why string }{
		{"ActiveUserStatisticsLog", "transportd writes no per-user statistics log"},
		{"AgentLog", "transportd has no transport agents"},
		{"ConnectivityLog", "transportd writes no connectivity log; the send protocol log (Verbose) and the daemon log record connections"},
		{"DnsLog", "transportd writes no DNS log; DNS failures are in the daemon log and in Get-Queue LastError"},
		{"IrmLog", "there is no Information Rights Management"},
		{"JournalLog", "there is no journaling"},
		{"QueueLog", "transportd writes no queue log; see Get-Queue and /metrics"},
		{"ResourceLog", "transportd writes no resource log"},
		{"RoutingTableLog", "transportd writes no routing table log"},
		{"ServerStatisticsLog", "transportd writes no server statistics log; see /metrics"},
		{"TransportMaintenanceLog", "transportd writes no maintenance log"},
		{"WlmLog", "there is no workload management"},
		{"RequestBrokerLog", "transportd writes no request broker log"},
		{"TransportHttpLog", "transportd writes no HTTP log"},
	} {
		for _, s := range []string{"Enabled", "MaxAge", "MaxDirectorySize", "MaxFileSize", "Path"} {
			out = append(out, inert{l.prefix + s, l.why})
		}
	}
	return append(out,
		inert{"ReplayDirectoryPath", "there is no replay folder; drop .eml files into PickupDirectoryPath"},
		inert{"RootDropDirectoryPath", "there is no drop folder; mail for mailboxes goes to their Maildirs"},
		inert{"AntispamAgentsEnabled", "transportd has no anti-spam agents"},
		inert{"ContentConversionTracingEnabled", "there is no content conversion"},
		inert{"PipelineTracingEnabled", "there is no pipeline tracing; the protocol logs and message tracking record each message"},
		inert{"PipelineTracingPath", "there is no pipeline tracing"},
		inert{"PipelineTracingSenderAddress", "there is no pipeline tracing"},
		inert{"ExternalDNSAdapterEnabled", "there are no DNS adapters here; give -ExternalDNSServers"},
		inert{"ExternalDNSAdapterGuid", "there are no DNS adapters here; give -ExternalDNSServers"},
		inert{"ExternalDNSProtocolOption", "Go's resolver uses UDP and falls back to TCP"},
		inert{"InternalDNSAdapterEnabled", "there are no DNS adapters here; give -InternalDNSServers"},
		inert{"InternalDNSAdapterGuid", "there are no DNS adapters here; give -InternalDNSServers"},
		inert{"InternalDNSProtocolOption", "Go's resolver uses UDP and falls back to TCP"},
		inert{"ExternalIPAddress", "HELO and Received use the connector's Fqdn; bind with Set-SendConnector -SourceIPAddress"},
		inert{"IntraOrgConnectorProtocolLoggingLevel", oneServer + "; there are no intra-organization connectors"},
		inert{"IntraOrgConnectorSmtpMaxMessagesPerConnection", oneServer + "; there are no intra-organization connectors"},
		inert{"MaxConcurrentMailboxSubmissions", "there is no mailbox submission service; clients submit over SMTP"},
		inert{"MaxConnectionRatePerMinute", "limit connections per receive connector (MaxInboundConnection, MaxInboundConnectionPerSource)"},
		inert{"PickupDirectoryMaxHeaderSize", "pickup files are checked against the receive limits of the pickup folder"},
		inert{"PickupDirectoryMaxMessagesPerMinute", "the pickup folder is read as fast as files arrive"},
		inert{"PickupDirectoryMaxRecipientsPerMessage", "the pickup folder takes the recipients a file names"},
		inert{"PoisonMessageDetectionEnabled", "the queue always detects poison messages"},
		inert{"PoisonThreshold", "the queue's poison threshold is fixed"},
		inert{"QueueMaxIdleTime", "idle delivery queues are dropped after a fixed 3 minutes"},
		inert{"RecipientValidationCacheEnabled", "recipients are checked against the mailbox list in memory"},
		inert{"UseDowngradedExchangeServerAuth", "there is no Exchange server authentication"},
		inert{"TransportSyncEnabled", "there is no Transport Sync"},
		inert{"TransportSyncPopEnabled", "there is no Transport Sync"},
		inert{"TransportSyncImapEnabled", "there is no Transport Sync"},
		inert{"TransportSyncExchangeEnabled", "there is no Transport Sync"},
		inert{"WindowsLiveHotmailTransportSyncEnabled", "there is no Transport Sync"},
	)
}()

// transportConfigInert are Set-TransportConfig parameters without a
// meaning here.
var transportConfigInert = []inert{
	{"MaxRecipientEnvelopeLimit", "recipients per message are limited per receive connector: Set-ReceiveConnector -MaxRecipientsPerMessage"},
	{"GenerateCopyOfDSNFor", "DSNs go to the sender only; none is copied to the postmaster"},
	{"JournalingReportNdrTo", "there is no journaling"},
	{"ShadowRedundancyEnabled", "a single server has no shadow copy; every message that got 250 is fsynced to the queue first"},
	{"ShadowMessageAutoDiscardInterval", "a single server has no shadow redundancy"},
	{"ShadowHeartbeatFrequency", "a single server has no shadow redundancy"},
	{"ShadowHeartbeatRetryCount", "a single server has no shadow redundancy"},
	{"ShadowHeartbeatTimeoutInterval", "a single server has no shadow redundancy"},
	{"ShadowMessagePreferenceSetting", "a single server has no shadow redundancy"},
	{"ShadowResubmitTimeSpan", "a single server has no shadow redundancy"},
	{"RejectMessageOnShadowFailure", "a single server has no shadow redundancy"},
	{"MaxRetriesForLocalSiteShadow", "a single server has no shadow redundancy"},
	{"MaxRetriesForRemoteSiteShadow", "a single server has no shadow redundancy"},
	{"SafetyNetHoldTime", "there is no Safety Net; delivered messages are not kept"},
	{"MaxDumpsterSizePerDatabase", "there is no transport dumpster"},
	{"MaxDumpsterTime", "there is no transport dumpster"},
	{"TLSReceiveDomainSecureList", "there is no domain security; require TLS per connector (RequireTLS)"},
	{"TLSSendDomainSecureList", "there is no domain security; use Set-SendConnector -RequireTLS $true -TlsAuthLevel DomainValidation"},
	{"ExternalDsnDefaultLanguage", "DSNs are written in English"},
	{"ExternalDsnLanguageDetectionEnabled", "DSNs are written in English"},
	{"ExternalDsnMaxMessageAttachSize", "a DSN quotes at most the original's header and 256 KB"},
	{"ExternalDsnReportingAuthority", "DSNs name this server's Fqdn as the reporting MTA"},
	{"ExternalDsnSendHtml", "DSNs are plain text (RFC 3464)"},
	{"InternalDsnDefaultLanguage", "DSNs are written in English"},
	{"InternalDsnLanguageDetectionEnabled", "DSNs are written in English"},
	{"InternalDsnMaxMessageAttachSize", "a DSN quotes at most the original's header and 256 KB"},
	{"InternalDsnReportingAuthority", "DSNs name this server's Fqdn as the reporting MTA"},
	{"InternalDsnSendHtml", "DSNs are plain text (RFC 3464)"},
	{"DSNConversionMode", "DSNs from elsewhere pass unchanged"},
	{"ClearCategories", "there is no content conversion"},
	{"ConvertDisclaimerWrapperToEml", "there are no transport rules"},
	{"HeaderPromotionModeSetting", "there is no header promotion"},
	{"InternalSMTPServers", "there is no Sender ID agent"},
	{"AddressBookPolicyRoutingEnabled", "there are no address book policies"},
	{"AgentGeneratedMessageLoopDetectionInSmtpEnabled", "transportd has no transport agents"},
	{"AgentGeneratedMessageLoopDetectionInSubmissionEnabled", "transportd has no transport agents"},
	{"MaxAllowedAgentGeneratedMessageDepth", "transportd has no transport agents"},
	{"MaxAllowedAgentGeneratedMessageDepthPerAgent", "transportd has no transport agents"},
	{"DiagnosticsAggregationServicePort", "there is no diagnostics aggregation service; see /metrics"},
	{"QueueDiagnosticsAggregationInterval", "there is no diagnostics aggregation service; see /metrics"},
	{"JournalMessageExpirationDays", "there is no journaling"},
	{"LegacyJournalingMigrationEnabled", "there is no journaling"},
	{"VoicemailJournalingEnabled", "there is no journaling"},
	{"ReplyAllStormProtectionEnabled", "Exchange Online only"},
	{"ReplyAllStormBlockDurationHours", "Exchange Online only"},
	{"ReplyAllStormDetectionMinimumRecipients", "Exchange Online only"},
	{"ReplyAllStormDetectionMinimumReplies", "Exchange Online only"},
	{"Rfc2231EncodingEnabled", "messages pass unchanged"},
	{"SmtpClientAuthenticationDisabled", "Exchange Online only; AUTH is set per receive connector (AuthMechanism)"},
	{"SupervisionTags", "there is no supervision policy"},
	{"TransportRuleAttachmentTextScanLimit", "there are no transport rules"},
	{"VerifySecureSubmitEnabled", "there is no Outlook secure submission"},
	{"Xexch50Enabled", "XEXCH50 is an Exchange 2003 extension"},
}
