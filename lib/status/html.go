package status

import (
	"fmt"
	"html/template"
	"io"
	"strings"
	"time"
)

// HTMLPage collects MDs for the self-contained HTML status page.
type HTMLPage struct {
	Check   CertCheck
	Now     time.Time
	Version string
	MDs     []htmlMD
	Count   [3]int // fine, attention, trouble
}

type htmlMD struct {
	Row      TableRow
	JSON     string
	Certs    []htmlCert
	Staged   []htmlCert
	Log      []htmlLog
	Problems []string
}

type htmlCert struct {
	Key, Issuer, IssuerURI, Serial, SHA256, ARI, From, Until, CheckURL, OCSP string
}

type htmlLog struct{ When, Type, Text string }

func htmlCerts(cs []Cert, check CertCheck) []htmlCert {
	var out []htmlCert
	for _, c := range cs {
		if c.Info == nil {
			continue
		}
		h := htmlCert{Key: c.Key, Issuer: c.Info.IssuerName, IssuerURI: c.Info.IssuerURI, Serial: c.Info.Serial,
			SHA256: c.Info.SHA256, ARI: c.Info.ARICertID,
			From: c.Info.NotBefore.Format("2006-01-02 15:04:05Z"), Until: c.Info.NotAfter.Format("2006-01-02 15:04:05Z")}
		if check.URL != "" {
			h.CheckURL = check.URL + c.Info.SHA256
		}
		if o := c.OCSP; o != nil {
			h.OCSP = o.Status
			if !o.Valid.Until.IsZero() {
				h.OCSP += ", valid until " + o.Valid.Until.Format("2006-01-02 15:04Z")
			}
		}
		out = append(out, h)
	}
	return out
}

// Add adds one MD.
func (p *HTMLPage) Add(rep *Report) {
	h := htmlMD{Row: rep.Row(), Problems: rep.Problems}
	p.Count[h.Row.Level]++
	if b, err := Indent(rep.JSON(true)); err == nil {
		h.JSON = string(b)
	}
	h.Certs = htmlCerts(rep.Certs, p.Check)
	h.Staged = htmlCerts(rep.Staged, p.Check)
	if j := rep.LastJob(); j != nil {
		for i, e := range j.Log.Entries {
			if i >= 20 {
				break
			}
			text := e.Detail
			if e.Status != "" && e.Status != e.Detail {
				text = strings.TrimSuffix(e.Status+": "+e.Detail, ": ")
			}
			h.Log = append(h.Log, htmlLog{When: e.When.Format("2006-01-02 15:04:05"), Type: e.Type, Text: text})
		}
	}
	p.MDs = append(p.MDs, h)
}

var pageTmpl = template.Must(template.New("page").Funcs(template.FuncMap{
	"level": func(l int) string { return [...]string{"ok", "warn", "bad"}[l] },
	"stateClass": func(s string) string {
		switch s {
		case "good":
			return "ok"
		case "error", "expired":
			return "bad"
		}
		return "warn"
	},
	"split": func(s string) []string { return strings.Split(s, ",") },
	"ago":   func(t, now time.Time) string { return Roughly(t, now) },
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Managed domains</title>
<style>
:root { --ok: #1a7f37; --warn: #9a6700; --bad: #cf222e; --line: #d0d7de; --muted: #57606a; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #1f2328; background: #f6f8fa; }
header { background: #24292f; color: #fff; padding: 14px 24px; display: flex; justify-content: space-between; align-items: baseline; }
header h1 { font-size: 18px; margin: 0; font-weight: 600; }
header span { color: #c9d1d9; font-size: 12px; }
main { padding: 20px 24px; }
.summary { display: flex; gap: 12px; margin-bottom: 16px; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 8px 14px; min-width: 110px; }
.card b { display: block; font-size: 20px; }
.card span { color: var(--muted); font-size: 12px; }
table { border-collapse: collapse; width: 100%; background: #fff; border: 1px solid var(--line); border-radius: 6px; }
th, td { text-align: left; padding: 7px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: #f6f8fa; font-size: 12px; text-transform: uppercase; letter-spacing: .03em; color: var(--muted); }
tr:last-child td { border-bottom: 0; }
td.names { color: var(--muted); white-space: nowrap; }
tr.warn td:first-child { box-shadow: inset 4px 0 0 var(--warn); }
tr.bad td:first-child { box-shadow: inset 4px 0 0 var(--bad); }
summary .act { font-weight: normal; color: var(--muted); margin-left: 8px; }
.pill { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; color: #fff; white-space: nowrap; }
.pill.ok { background: var(--ok); } .pill.warn { background: var(--warn); } .pill.bad { background: var(--bad); }
.nowrap { white-space: nowrap; }
h2 { font-size: 16px; margin: 28px 0 10px; }
details { background: #fff; border: 1px solid var(--line); border-radius: 6px; margin-bottom: 10px; }
details summary { cursor: pointer; padding: 9px 14px; font-weight: 600; }
details .body { padding: 0 14px 12px; }
details.json { border: 0; margin: 10px 0 0; } details.json summary { padding: 4px 0; font-size: 13px; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 3px 14px; margin: 6px 0 12px; }
dt { color: var(--muted); } dd { margin: 0; font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12.5px; word-break: break-all; }
h3 { font-size: 13px; margin: 14px 0 4px; }
pre { background: #f6f8fa; border: 1px solid var(--line); border-radius: 6px; padding: 10px; overflow: auto; max-height: 320px; font-size: 12px; }
.log td { font-size: 12.5px; padding: 4px 8px; } .log td:first-child { white-space: nowrap; color: var(--muted); }
.problem { color: var(--bad); font-weight: 600; }
a { color: #0969da; }
</style>
</head>
<body>
<header><h1>Managed domains</h1><span>{{len .MDs}} MDs &middot; as of {{.Now.Format "2006-01-02 15:04:05 UTC"}} &middot; md-status {{.Version}}</span></header>
<main>
<div class="summary">
<div class="card"><b>{{len .MDs}}</b><span>managed domains</span></div>
<div class="card"><b style="color: var(--ok)">{{index .Count 0}}</b><span>fine</span></div>
<div class="card"><b style="color: var(--warn)">{{index .Count 1}}</b><span>need attention</span></div>
<div class="card"><b style="color: var(--bad)">{{index .Count 2}}</b><span>in trouble</span></div>
</div>
<table>
<thead><tr><th>Name</th><th>Names</th><th>State</th><th>Valid until</th><th>Renew at</th><th>CA</th><th>Stapling</th><th>Activity</th></tr></thead>
<tbody>
{{range .MDs}}<tr class="{{level .Row.Level}}">
<td class="nowrap"><a href="#md-{{.Row.Name}}">{{.Row.Name}}</a></td>
<td class="names">{{range split .Row.Names}}<div>{{.}}</div>{{end}}</td>
<td><span class="pill {{stateClass .Row.State}}">{{.Row.State}}</span></td>
<td class="nowrap">{{.Row.ValidUntil}}</td>
<td class="nowrap">{{.Row.RenewAt}}</td>
<td>{{.Row.CA}}</td>
<td>{{.Row.Stapling}}</td>
<td>{{.Row.Activity}}</td>
</tr>
{{else}}<tr><td colspan="8">No managed domains in this store.</td></tr>
{{end}}</tbody>
</table>
{{if .MDs}}<h2>Details</h2>{{end}}
{{range .MDs}}<details id="md-{{.Row.Name}}"{{if .Row.Level}} open{{end}}>
<summary>{{.Row.Name}} <span class="pill {{stateClass .Row.State}}">{{.Row.State}}</span> <span class="act">{{.Row.Activity}}</span></summary>
<div class="body">
{{range .Problems}}<p class="problem">{{.}}</p>{{end}}
{{range .Certs}}<h3>Certificate {{.Key}}</h3>
<dl>
<dt>valid</dt><dd>{{.From}} &ndash; {{.Until}}</dd>
<dt>issuer</dt><dd>{{.Issuer}}{{if .IssuerURI}} (<a href="{{.IssuerURI}}">{{.IssuerURI}}</a>){{end}}</dd>
<dt>serial</dt><dd>{{.Serial}}</dd>
<dt>sha256</dt><dd>{{if .CheckURL}}<a href="{{.CheckURL}}" title="look it up in the CT logs">{{.SHA256}}</a>{{else}}{{.SHA256}}{{end}}</dd>
{{if .ARI}}<dt>ARI id</dt><dd>{{.ARI}}</dd>{{end}}
{{if .OCSP}}<dt>OCSP</dt><dd>{{.OCSP}}</dd>{{end}}
</dl>
{{end}}
{{range .Staged}}<h3>Staged certificate {{.Key}} (renewal)</h3>
<dl>
<dt>valid</dt><dd>{{.From}} &ndash; {{.Until}}</dd>
<dt>serial</dt><dd>{{.Serial}}</dd>
<dt>sha256</dt><dd>{{if .CheckURL}}<a href="{{.CheckURL}}">{{.SHA256}}</a>{{else}}{{.SHA256}}{{end}}</dd>
</dl>
{{end}}
{{if .Log}}<h3>Job log (newest first)</h3>
<table class="log">{{range .Log}}<tr><td>{{.When}}</td><td>{{.Type}}</td><td>{{.Text}}</td></tr>{{end}}</table>
{{end}}
<details class="json"><summary>md-status JSON</summary><pre>{{.JSON}}</pre></details>
</div>
</details>
{{end}}
</main>
</body>
</html>
`))

// WriteTo renders the page.
func (p *HTMLPage) WriteTo(w io.Writer) (int64, error) {
	cw := &countWriter{w: w}
	err := pageTmpl.Execute(cw, p)
	if err != nil {
		err = fmt.Errorf("rendering HTML: %w", err)
	}
	return cw.n, err
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}
