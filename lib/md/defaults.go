package md

// Defaults mod_md applies to an MD that does not configure a value.
const (
	DefaultCA          = "https://acme-v02.api.letsencrypt.org/directory"
	DefaultRenewWindow = "33%"
	DefaultWarnWindow  = "10%"
	ProtoACME          = "ACME"
)

// ApplyDefaults fills what mod_md fills before it compares or uses an MD
// (acme_complete_md and md_reg's state_init): the protocol, the default
// CA, the default renew and warn windows, manual renewal for static
// certificate files in auto mode, and an empty contact list. It is the one
// place these defaults are applied; values already set are kept.
func (m *MD) ApplyDefaults() {
	if m.CA == nil {
		m.CA = &CA{}
	}
	if m.CA.Proto == "" {
		m.CA.Proto = ProtoACME
	}
	if len(m.CA.URLs) == 0 {
		m.CA.URLs = []string{DefaultCA}
	}
	if m.RenewWindow == nil {
		w := m.EffectiveRenewWindow()
		m.RenewWindow = &w
	}
	if m.WarnWindow == nil {
		w := m.EffectiveWarnWindow()
		m.WarnWindow = &w
	}
	if len(m.CertFiles) > 0 && m.RenewMode == RenewAuto {
		m.RenewMode = RenewManual // static files are not renewed in auto mode
	}
	if m.Contacts == nil {
		m.Contacts = []string{}
	}
}

// EffectiveRenewWindow is MDRenewWindow, or mod_md's default 33%.
func (m *MD) EffectiveRenewWindow() Timeslice {
	if m != nil && m.RenewWindow != nil {
		return *m.RenewWindow
	}
	return MustTimeslice(DefaultRenewWindow)
}

// EffectiveWarnWindow is MDWarnWindow, or mod_md's default 10%.
func (m *MD) EffectiveWarnWindow() Timeslice {
	if m != nil && m.WarnWindow != nil {
		return *m.WarnWindow
	}
	return MustTimeslice(DefaultWarnWindow)
}

// EffectiveCAURLs are the configured CA URLs, or mod_md's default.
func (m *MD) EffectiveCAURLs() []string {
	if m.CA != nil && len(m.CA.URLs) > 0 {
		return m.CA.URLs
	}
	if m.CA != nil && m.CA.URL != "" {
		return []string{m.CA.URL}
	}
	return []string{DefaultCA}
}
