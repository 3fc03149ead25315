package registry

import (
	"fmt"
	"strings"

	"github.com/transportd/transportd/policies/permissions"
	"github.com/transportd/transportd/transport/admin/manage"
)

// permissionKind is Exchange's Add/Get/Remove-ADPermission: the extended
// rights of receive connectors (permissions.AllRights, granted or denied
// to NT AUTHORITY\ANONYMOUS LOGON, NT AUTHORITY\Authenticated Users,
// MS Exchange\Externally Secured Servers, MS Exchange\Partner Servers or
// a mailbox; kept in the connector's AnonymousRelay and ADPermissions)
// and Send As on a mailbox (its GrantSendAsTo).
func permissionKind() *Kind {
	rights := make([]string, len(permissions.AllRights))
	for i, r := range permissions.AllRights {
		rights[i] = string(r)
	}
	identity := val("Identity", "the receive connector, or for Send As the mailbox; wildcards * allowed")
	ps := params(identity,
		val("User", strings.Join(permissions.Principals, ", ")+", or a mailbox (for Send As: the mailbox user)"),
		val("ExtendedRights", "one or more of "+strings.Join(rights, ", ")+" (Ms-Exch-SMTP-Accept-Any-Recipient for NT AUTHORITY\\ANONYMOUS LOGON is the connector's AnonymousRelay; ms-Exch-SMTP-Accept-Exch50 is accepted but inert), or \""+manage.RightSendAs+"\" on a mailbox"),
		val("AccessRights", "ExtendedRight"),
		sw("Deny", "the entry takes the rights away; a deny wins over every grant, also those of the permission groups"))
	ids := []string{"Identity"}
	grant := func(add bool, cmdlet string) func(env *Env, r Request) ([]manage.Record, error) {
		return func(env *Env, r Request) ([]manage.Record, error) {
			if len(r.Identities) == 0 {
				return nil, needIdentities(r, "Identity", cmdlet)
			}
			user, ok := r.Params.TakeExact("User")
			if !ok {
				return nil, fmt.Errorf("-User is required: one of %s, or a mailbox", strings.Join(permissions.Principals, ", "))
			}
			if ar, ok := r.Params.TakeExact("AccessRights"); ok && !strings.EqualFold(ar, "ExtendedRight") {
				return nil, fmt.Errorf("-AccessRights %q: only ExtendedRight is kept (with -ExtendedRights on a receive connector, or \"%s\" on a mailbox)", ar, manage.RightSendAs)
			}
			deny := false
			if v, ok := r.Params.TakeExact("Deny"); ok {
				b, err := manage.ParseBool(v)
				if err != nil {
					return nil, fmt.Errorf("-Deny: %w", err)
				}
				deny = b
			}
			var rights []string
			if v, ok := r.Params.TakeExact("ExtendedRights"); ok {
				for _, p := range strings.Split(v, ",") {
					if p = strings.TrimSpace(p); p != "" {
						rights = append(rights, p)
					}
				}
			}
			recs, warnings, err := env.Manager.ChangeADPermission(manage.ADPermissionChange{
				Identities: localIdentities(env.Manager, r.Identities), User: user, Rights: rights, Add: add, Deny: deny})
			if err != nil {
				return nil, err
			}
			for _, w := range warnings {
				env.warn("%s", w)
			}
			if add {
				return recs, nil
			}
			if len(recs) > 0 {
				if rt, _ := recs[0].Get("ExtendedRights"); rt == "{"+manage.RightSendAs+"}" {
					env.say("Removed %s from %s for %s.", manage.RightSendAs, plural(len(recs), "mailbox"), user)
					return nil, nil
				}
			}
			if len(rights) == 1 && strings.EqualFold(rights[0], manage.RightAcceptAnyRecipient) && permissions.CanonicalPrincipal(user) == permissions.PrincipalAnonymous && !deny {
				env.say("Removed %s from %s for %s: AnonymousRelay is now False.", manage.RightAcceptAnyRecipient, plural(len(recs), "receive connector"), manage.AnonymousLogon)
				return nil, nil
			}
			env.say("Removed %s.", plural(len(recs), "permission entry"))
			return nil, nil
		}
	}
	return &Kind{Noun: "permission", Aliases: []string{"adpermission"}, TypeName: "ADPermission",
		What:    "extended rights on a receive connector (relay, submit, sender checks, size limit...), Send As on a mailbox (Add/Get/Remove-ADPermission)",
		Columns: []string{"Identity", "User", "ExtendedRights", "Deny", "Inherited"},
		Commands: []*Command{
			{Verb: "get", Cmdlet: "Get-ADPermission",
				Synopsis:   "Shows the rights a receive connector grants, as its permission groups, AnonymousRelay and explicit entries (Deny True for a deny) give them, and the \"Send As\" grants on a mailbox.",
				Params:     params(val("Identity", "the receive connector or mailbox; wildcards * allowed"), val("User", "only this user's rights")),
				Positional: ids, IdentityParams: ids, Pipe: true, Records: true,
				Run: func(env *Env, r Request) ([]manage.Record, error) {
					if len(r.Identities) == 0 {
						return nil, needIdentities(r, "Identity", "Get-ADPermission")
					}
					user, _ := r.Params.TakeExact("User")
					var out []manage.Record
					for _, id := range localIdentities(env.Manager, r.Identities) {
						recs, err := env.Manager.GetADPermissions(id, user)
						if err != nil {
							return nil, err
						}
						out = append(out, recs...)
					}
					return out, nil
				}},
			{Verb: "add", Cmdlet: "Add-ADPermission",
				Synopsis: "Grants (or with -Deny denies) extended rights on a receive connector to anonymous senders, authenticated users, externally secured servers, partners or a mailbox user, enforced on the next connection; or \"Send As\" on a mailbox to another mailbox user (the mailbox's GrantSendAsTo).",
				Params:   ps, Positional: ids, IdentityParams: ids, Pipe: true, Records: true, Run: grant(true, "Add-ADPermission")},
			{Verb: "remove", Cmdlet: "Remove-ADPermission",
				Synopsis: "Revokes extended rights on a receive connector (a right that comes with a permission group is denied instead), or a user's \"Send As\" on a mailbox.",
				Params:   ps, Positional: ids, IdentityParams: ids, Pipe: true, Run: grant(false, "Remove-ADPermission")},
		}}
}
