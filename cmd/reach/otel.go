package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// OpenTelemetry tracing of reach serve: a span per gRPC request (and so
// per HTTP request) and a span per store read, exported over OTLP/gRPC.
// It is off unless asked for, with SpiceDB's flags (--otel-provider
// otlpgrpc, --otel-endpoint, --otel-insecure, --otel-service-name,
// --otel-sample-ratio) or the standard environment variables:
// OTEL_TRACES_EXPORTER=otlp, or an OTEL_EXPORTER_OTLP_ENDPOINT (or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) with OTEL_TRACES_EXPORTER unset. The
// exporter reads the other OTEL_EXPORTER_OTLP_* variables (headers,
// certificates, timeout), the SDK reads OTEL_SERVICE_NAME,
// OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER (used when
// --otel-sample-ratio is not given) and OTEL_BSP_*. A flag given wins over
// the environment; OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none
// keeps it off when --otel-provider is not given.

type otelOptions struct {
	provider    string
	endpoint    string
	insecure    bool
	serviceName string
	sampleRatio float64
}

// otelShutdownTimeout bounds the flush of the last spans on exit.
const otelShutdownTimeout = 5 * time.Second

func (o *otelOptions) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.provider, "otel-provider", "none", `OpenTelemetry trace exporter: none or otlpgrpc (when the flag is not given, the OTEL_* environment may ask for otlpgrpc)`)
	f.StringVar(&o.endpoint, "otel-endpoint", "", "OpenTelemetry collector, HOST:PORT or a URL (default: OTEL_EXPORTER_OTLP_ENDPOINT, else localhost:4317)")
	f.BoolVar(&o.insecure, "otel-insecure", false, "talk plaintext to the OpenTelemetry collector")
	f.StringVar(&o.serviceName, "otel-service-name", "reach", "service name of the traces (OTEL_SERVICE_NAME wins when this flag is not given)")
	f.Float64Var(&o.sampleRatio, "otel-sample-ratio", 0.01, "share of traces sampled, 0 to 1, unless the client's trace is sampled (OTEL_TRACES_SAMPLER applies when this flag is not given)")
}

// otelProvider decides from the flags and the environment which exporter
// to use: "" for none, or "otlpgrpc".
func otelProvider(cmd *cobra.Command, o otelOptions) (string, error) {
	if cmd.Flags().Changed("otel-provider") {
		switch p := strings.ToLower(strings.TrimSpace(o.provider)); p {
		case "none", "":
			return "", nil
		case "otlpgrpc":
			return p, checkOTLPProtocol()
		case "otlphttp":
			return "", usagef("--otel-provider otlphttp is not supported: reach exports over OTLP/gRPC (otlpgrpc)")
		default:
			return "", usagef("--otel-provider must be none or otlpgrpc, not %q", o.provider)
		}
	}
	if strings.EqualFold(os.Getenv("OTEL_SDK_DISABLED"), "true") {
		return "", nil
	}
	switch exp := strings.ToLower(strings.TrimSpace(os.Getenv("OTEL_TRACES_EXPORTER"))); exp {
	case "none":
		return "", nil
	case "otlp":
		return "otlpgrpc", checkOTLPProtocol()
	case "":
		if os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "" {
			return "otlpgrpc", checkOTLPProtocol()
		}
		return "", nil
	default:
		return "", usagef("OTEL_TRACES_EXPORTER=%s: reach exports traces over otlp only (or none)", exp)
	}
}

// checkOTLPProtocol refuses an OTLP protocol other than gRPC.
func checkOTLPProtocol() error {
	for _, v := range []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		if p := strings.TrimSpace(os.Getenv(v)); p != "" {
			if p != "grpc" {
				return usagef("%s=%s: reach exports traces over OTLP/gRPC only (grpc)", v, p)
			}
			return nil
		}
	}
	return nil
}

// startTracing builds the tracer provider that --otel-* and the OTEL_*
// environment ask for: nil when tracing is off. shutdown flushes the spans
// not yet exported (within otelShutdownTimeout) and stops the exporter.
func startTracing(ctx context.Context, cmd *cobra.Command, o otelOptions, log *slog.Logger) (tp trace.TracerProvider, shutdown func(), err error) {
	provider, err := otelProvider(cmd, o)
	if err != nil || provider == "" {
		return nil, func() {}, err
	}
	flags := cmd.Flags()
	if flags.Changed("otel-sample-ratio") && (o.sampleRatio < 0 || o.sampleRatio > 1) {
		return nil, nil, usagef("--otel-sample-ratio must be between 0 and 1, not %g", o.sampleRatio)
	}
	var opts []otlptracegrpc.Option
	switch {
	case strings.Contains(o.endpoint, "://"):
		opts = append(opts, otlptracegrpc.WithEndpointURL(o.endpoint))
	case o.endpoint != "":
		opts = append(opts, otlptracegrpc.WithEndpoint(o.endpoint))
	}
	if o.insecure {
		opts = append(opts, otlptracegrpc.WithInsecure())
	}
	exp, err := otlptracegrpc.New(ctx, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("OpenTelemetry exporter: %w", err)
	}
	name := []resource.Option{resource.WithAttributes(attribute.String("service.name", o.serviceName))}
	res, err := resource.New(ctx, append(append(name, resource.WithFromEnv(), resource.WithTelemetrySDK(),
		resource.WithAttributes(attribute.String("service.version", buildInfo().Version))),
		func() []resource.Option {
			if flags.Changed("otel-service-name") {
				return name // the flag wins over OTEL_SERVICE_NAME
			}
			return nil
		}()...)...)
	if err != nil && res == nil {
		return nil, nil, fmt.Errorf("OpenTelemetry resource: %w", err)
	}
	tpOpts := []sdktrace.TracerProviderOption{sdktrace.WithBatcher(exp), sdktrace.WithResource(res)}
	if flags.Changed("otel-sample-ratio") || os.Getenv("OTEL_TRACES_SAMPLER") == "" {
		tpOpts = append(tpOpts, sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(o.sampleRatio))))
	}
	sdk := sdktrace.NewTracerProvider(tpOpts...)
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { log.Warn("OpenTelemetry", "err", err) }))
	endpoint := o.endpoint
	for _, v := range []string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"} {
		if endpoint == "" {
			endpoint = os.Getenv(v)
		}
	}
	if endpoint == "" {
		endpoint = "localhost:4317"
	}
	log.Info("tracing with OpenTelemetry", "exporter", provider, "endpoint", endpoint)
	return sdk, func() {
		ctx, cancel := context.WithTimeout(context.Background(), otelShutdownTimeout)
		defer cancel()
		if err := sdk.Shutdown(ctx); err != nil && !errors.Is(err, context.Canceled) {
			log.Warn("OpenTelemetry shutdown", "err", err)
		}
	}, nil
}
