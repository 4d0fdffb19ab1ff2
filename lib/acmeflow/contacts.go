package acmeflow

import (
	"context"
	"encoding/json"
	"slices"

	"github.com/mdtools/mdtools/lib/store"
)

// syncContacts updates the contacts of a stored account at its CA (RFC
// 8555 §7.3.2) and in accounts/<id>/account.json when the MD's contacts
// (MDContactEmail / contact-email) changed, instead of registering a new
// account. It does so only when no other MD of the store using the account
// (ca.account) wants other contacts, so that two MDs sharing an account
// never update it back and forth; then it logs why not. A failed update is
// logged and the account used as it is.
func (a *attempt) syncContacts(ctx context.Context, acct *Account, sig *signer) {
	want := a.rec.Contacts
	if acct.ID == "" || len(want) == 0 || sameContacts(acct.File.Contact, want) {
		return
	}
	st, log := a.r.Store, a.r.log()
	users, err := accountUsers(ctx, st)
	if err != nil {
		log.Warnf("%s: %v", a.name, err)
		return
	}
	mine := slices.Contains(users[acct.ID], a.name)
	for _, n := range users[acct.ID] {
		if n == a.name {
			continue
		}
		m, err := st.LoadMD(ctx, store.GroupDomains, n)
		if err != nil || !mine || !sameContacts(m.Contacts, want) {
			log.Infof("%s: account %s keeps its contacts %v: the MD %s uses it too", a.name, acct.ID, acct.File.Contact, n)
			return
		}
	}
	payload, _ := json.Marshal(map[string][]string{"contact": want})
	_, body, err := sig.post(ctx, acct.File.URL, payload)
	if err != nil {
		log.Warnf("%s: updating the contacts of account %s: %v", a.name, acct.ID, err)
		return
	}
	var got struct {
		Contact []string `json:"contact"`
	}
	if json.Unmarshal(body, &got) != nil || len(got.Contact) == 0 {
		got.Contact = want
	}
	unlock, err := lockAccounts(ctx, st, 0)
	if err != nil {
		log.Warnf("%s: %v", a.name, err)
		return
	}
	defer unlock()
	f := acct.File
	f.Contact = got.Contact
	if f.Registration != nil {
		reg := make(map[string]any, len(f.Registration))
		for k, v := range f.Registration {
			reg[k] = v
		}
		reg["contact"] = got.Contact
		f.Registration = reg
	}
	if err := st.SaveJSON(ctx, store.GroupAccounts, acct.ID, store.FileAccount, &f); err != nil {
		log.Warnf("%s: the CA has the new contacts of account %s, but saving them failed: %v", a.name, acct.ID, err)
		return
	}
	acct.File = f
	a.progress("Updated the contacts of account %s to %v", acct.ID, got.Contact)
}
