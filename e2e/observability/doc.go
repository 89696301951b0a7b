// Package observability holds the Prometheus and Grafana kit for meshwaf behind Envoy
// (prometheus.yml, grafana/), which docker-compose.yaml provisions. Its test checks that every
// series and label the dashboard queries is one the plugin really produces once Envoy has
// turned its metric names into Prometheus series.
package observability
