package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/reach-authz/reach/playground"
)

func init() { subcommands = append(subcommands, newPlaygroundCmd) }

func newPlaygroundCmd() *cobra.Command {
	var (
		addr string
		opts playground.Options
	)
	c := &cobra.Command{
		Use:   "playground [--addr HOST:PORT]",
		Short: "Serve a local web page to edit a model and see its answers as you type",
		Long: `Serve the reach playground: a web page where a schema, its relationships and
its assertions (a zed validate file) are edited side by side and answered by
reach's engine as you type:

  - the schema's errors marked at their line and column;
  - a picture of the model: its definitions, relations and arrows;
  - the relationships and assertions checked line by line;
  - check, with its proof drawn as a graph; lookups of resources and
    subjects; expand;
  - the access matrix (permissions by subjects) of chosen resources, as the
    seed articles' own tables; editing the schema marks the cells the edit
    would flip (as reach schema diff --impact does);
  - the five seed models in a menu; open and save a validation file (.yaml);
    the page's address holds the whole state, so a link restores it.

It listens on 127.0.0.1 on a free port by default (--addr to choose) and
prints the address. It needs no key: it serves no store of yours; every
request carries its own schema and relationships, loaded into memory and
bounded in size (--max-relationships, 1 MiB a request) and time (--timeout).
The page is part of the binary and loads nothing from the network.

Stop it with Ctrl-C.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return exitWith(exitError3, "reach: playground: %v", err)
			}
			srv := playground.New(opts)
			defer srv.Close()
			hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
			defer stop()
			errc := make(chan error, 1)
			go func() { errc <- hs.Serve(ln) }()
			fmt.Fprintf(cmd.OutOrStdout(), "reach playground: http://%s/\n", ln.Addr())
			select {
			case err := <-errc:
				if !errors.Is(err, http.ErrServerClosed) {
					return exitWith(exitError3, "reach: playground: %v", err)
				}
			case <-ctx.Done():
				sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				hs.Shutdown(sctx)
			}
			return nil
		},
	}
	c.Flags().StringVar(&addr, "addr", "127.0.0.1:0", "address to listen on (port 0: a free port, printed on start)")
	c.Flags().IntVar(&opts.MaxRelationships, "max-relationships", 10_000, "most relationships a page may hold")
	c.Flags().DurationVar(&opts.Timeout, "timeout", 10*time.Second, "longest a request may take")
	return c
}
