package registry

import (
	"fmt"
	"strings"

	"github.com/transportd/transportd/transport/admin/manage"
)

// permissionKind is Exchange's Add/Get/Remove-ADPermission, for the two
// rights transportd keeps: anonymous relay on a receive connector (its
// AnonymousRelay) and Send As on a mailbox (its GrantSendAsTo).
func permissionKind() *Kind {
	identity := val("Identity", "the receive connector, or for Send As the mailbox; wildcards * allowed")
	ps := params(identity,
		val("User", manage.AnonymousLogon+", or for Send As the mailbox user"),
		val("ExtendedRights", manage.RightAcceptAnyRecipient+" or \""+manage.RightSendAs+"\""),
		val("AccessRights", "ExtendedRight"))
	ids := []string{"Identity"}
	grant := func(add bool, cmdlet string) func(env *Env, r Request) ([]manage.Record, error) {
		return func(env *Env, r Request) ([]manage.Record, error) {
			if len(r.Identities) == 0 {
				return nil, needIdentities(r, "Identity", cmdlet)
			}
			user, ok := r.Params.TakeExact("User")
			if !ok {
				return nil, fmt.Errorf("-User is required: %q", manage.AnonymousLogon)
			}
			if ar, ok := r.Params.TakeExact("AccessRights"); ok && !strings.EqualFold(ar, "ExtendedRight") {
				return nil, fmt.Errorf("-AccessRights %q: only ExtendedRight is kept (with -ExtendedRights %s on a receive connector, or \"%s\" on a mailbox)", ar, manage.RightAcceptAnyRecipient, manage.RightSendAs)
			}
			var rights []string
			if v, ok := r.Params.TakeExact("ExtendedRights"); ok {
				for _, p := range strings.Split(v, ",") {
					if p = strings.TrimSpace(p); p != "" {
						rights = append(rights, p)
					}
				}
			}
			recs, err := env.Manager.SetADPermission(localIdentities(env.Manager, r.Identities), user, rights, add)
			if err != nil {
				return nil, err
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
			env.say("Removed %s from %s for %s: AnonymousRelay is now False.", manage.RightAcceptAnyRecipient, plural(len(recs), "receive connector"), manage.AnonymousLogon)
			return nil, nil
		}
	}
	return &Kind{Noun: "permission", Aliases: []string{"adpermission"}, TypeName: "ADPermission",
		What:    "anonymous relay on a receive connector, Send As on a mailbox (Add/Get/Remove-ADPermission)",
		Columns: []string{"Identity", "User", "ExtendedRights", "Deny", "Inherited"},
		Commands: []*Command{
			{Verb: "get", Cmdlet: "Get-ADPermission",
				Synopsis:   "Shows the rights a receive connector grants, as its permission groups and AnonymousRelay give them, and the \"Send As\" grants on a mailbox.",
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
				Synopsis: "Grants Ms-Exch-SMTP-Accept-Any-Recipient to NT AUTHORITY\\ANONYMOUS LOGON on a receive connector (its AnonymousRelay), or \"Send As\" on a mailbox to another mailbox user (the mailbox's GrantSendAsTo).",
				Params:   ps, Positional: ids, IdentityParams: ids, Pipe: true, Records: true, Run: grant(true, "Add-ADPermission")},
			{Verb: "remove", Cmdlet: "Remove-ADPermission",
				Synopsis: "Revokes anonymous relay on a receive connector (AnonymousRelay $false), or a user's \"Send As\" on a mailbox.",
				Params:   ps, Positional: ids, IdentityParams: ids, Pipe: true, Run: grant(false, "Remove-ADPermission")},
		}}
}
