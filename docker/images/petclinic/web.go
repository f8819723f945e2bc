package main

import (
	"encoding/json"
	"html/template"
	"net/http"
	"strings"
)

type page struct {
	Version, Host, IP string
	Owners            []Owner
	Error             string
}

// Colour and headline per version: the article's blue-green switch must be visible at a glance.
func (p page) Colour() string {
	switch {
	case strings.HasPrefix(p.Version, "1.0.0"):
		return "#1f5fbf" // blue
	case strings.HasPrefix(p.Version, "1.0.1"):
		return "#2e8b3a" // green
	}
	return "#6b6b6b"
}

func (p page) Edition() string {
	switch {
	case strings.HasPrefix(p.Version, "1.0.0"):
		return "BLUE edition"
	case strings.HasPrefix(p.Version, "1.0.1"):
		return "GREEN edition"
	}
	return "edition " + p.Version
}

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>PetClinic {{.Version}}</title>
<style>
body { font-family: sans-serif; margin: 0; }
header { background: {{.Colour}}; color: #fff; padding: 1em 2em; }
main { padding: 1em 2em; }
table { border-collapse: collapse; } td, th { border: 1px solid #ccc; padding: .3em .6em; text-align: left; }
</style></head>
<body>
<header><h1>Spring PetClinic {{.Version}}</h1><p>{{.Edition}}</p></header>
<main>
<p>Version: <strong id="version">{{.Version}}</strong> &middot; Pod: <strong id="pod">{{.Host}}</strong> &middot; Pod IP: <strong id="ip">{{.IP}}</strong></p>
<h2>Owners</h2>
{{if .Error}}<p id="error">Something happened... {{.Error}}</p>{{else}}
<table id="owners"><tr><th>Name</th><th>Address</th><th>City</th><th>Telephone</th><th>Pets</th></tr>
{{range .Owners}}<tr><td>{{.Name}}</td><td>{{.Address}}</td><td>{{.City}}</td><td>{{.Telephone}}</td>
<td>{{range $i, $p := .Pets}}{{if $i}}, {{end}}{{$p.Name}} ({{$p.Type}}){{end}}</td></tr>
{{end}}</table>{{end}}
</main></body></html>
`))

func routes(store Store, base page) http.Handler {
	mux := http.NewServeMux()
	owners := func(w http.ResponseWriter, r *http.Request) {
		p := base
		list, err := store.Owners(r.Context())
		if err != nil {
			// PetClinic's error page: the request fails, the application keeps running.
			p.Error = err.Error()
			w.WriteHeader(http.StatusInternalServerError)
		}
		p.Owners = list
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = pageTemplate.Execute(w, p)
	}
	mux.HandleFunc("GET /{$}", owners)
	mux.HandleFunc("GET /owners", owners)
	health := func(w http.ResponseWriter, r *http.Request) {
		status, code := "UP", http.StatusOK
		if store.Ping(r.Context()) != nil {
			status, code = "DOWN", http.StatusServiceUnavailable
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(map[string]string{"status": status})
	}
	mux.HandleFunc("GET /actuator/health", health)
	mux.HandleFunc("GET /health", health)
	return mux
}
