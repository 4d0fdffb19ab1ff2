package acmeflow

import (
	"context"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/mdtools/mdtools/lib/renew"
)

// CertID is a certificate's ARI identifier (RFC 9773 §4.1):
// base64url(AKI keyIdentifier) "." base64url(DER value bytes of the serial),
// the serial keeping its leading zero byte when the high bit is set.
func CertID(c *x509.Certificate) (string, error) {
	if len(c.AuthorityKeyId) == 0 {
		return "", errors.New("certificate has no authority key identifier")
	}
	der, err := asn1.Marshal(c.SerialNumber)
	if err != nil {
		return "", err
	}
	var raw asn1.RawValue
	if _, err := asn1.Unmarshal(der, &raw); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(c.AuthorityKeyId) + "." + base64.RawURLEncoding.EncodeToString(raw.Bytes), nil
}

// ARIInfo is a renewalInfo answer with when to ask again.
type ARIInfo struct {
	Window     renew.Window
	RetryAfter time.Time
}

// FetchARI GETs <renewalInfo>/<certID> (unauthenticated, RFC 9773 §4.2).
func FetchARI(ctx context.Context, hc *http.Client, base, certID, ua string, now time.Time) (*ARIInfo, error) {
	url := strings.TrimSuffix(base, "/") + "/" + certID
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", ua)
	res, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("ARI request: %w", err)
	}
	data, err := readLimited(res.Body)
	res.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("ARI response: %w", err)
	}
	if res.StatusCode != http.StatusOK {
		return nil, problemFromResponse(res, data)
	}
	var v struct {
		SuggestedWindow struct {
			Start time.Time `json:"start"`
			End   time.Time `json:"end"`
		} `json:"suggestedWindow"`
		ExplanationURL string `json:"explanationURL"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("ARI response from %s is not valid JSON: %w", url, err)
	}
	if v.SuggestedWindow.Start.IsZero() || v.SuggestedWindow.End.Before(v.SuggestedWindow.Start) {
		return nil, fmt.Errorf("ARI response from %s has no valid suggestedWindow", url)
	}
	ra := parseRetryAfter(res.Header.Get("Retry-After"), now)
	if ra <= 0 {
		ra = 6 * time.Hour // RFC 9773 §4.3: clients should poll about twice a day
	}
	if ra > 24*time.Hour {
		ra = 24 * time.Hour
	}
	return &ARIInfo{Window: renew.Window{Start: v.SuggestedWindow.Start, End: v.SuggestedWindow.End,
		ExplanationURL: v.ExplanationURL}, RetryAfter: now.Add(ra)}, nil
}
