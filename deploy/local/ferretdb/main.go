// Command ferretdb runs FerretDB v1 (MongoDB wire protocol, SQLite backend) on loopback.
//
// It embeds the FerretDB package instead of `go install`-ing its cmd/ferretdb, because a
// binary built that way panics at start-up: its version file is generated and is not part
// of the module zip (FerretDB issue #2982).
//
// FerretDB 1.x applies an update by reading the document, changing it in Go and writing it
// back, with nothing in between that stops a concurrent update of the same document: 50
// concurrent $inc on one document keep about 14. MongoDB guarantees single-document atomicity
// and the services rely on it, so FerretDB listens on a private Unix socket and clients reach it
// through writeSerializer (serializer.go), which lets one write command through at a time.
package main

import (
	"context"
	"flag"
	"log"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen-addr", "127.0.0.1:27017", "TCP address to listen on")
	dataDir := flag.String("sqlite-dir", "", "existing directory for the SQLite files")
	flag.Parse()

	if *dataDir == "" {
		log.Fatal("-sqlite-dir is required")
	}

	socket := filepath.Join(*dataDir, "ferretdb.sock")
	_ = os.Remove(socket)

	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	db, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{Unix: socket},
		Logger:    logger,
		Handler:   "sqlite",
		// synchronous=NORMAL: a commit reaches the WAL file (the OS) before it is acknowledged and
		// survives any process crash, but is fsynced at checkpoints rather than per commit. That is
		// MongoDB's default (w:1, journal flushed every 100 ms), and writes run one at a time here,
		// so an fsync per commit capped every service's writes (1,250 -> 3,080 writes/s).
		SQLiteURL: "file:" + *dataDir + "/?_pragma=synchronous(NORMAL)",
	})
	if err != nil {
		log.Fatal(err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	done := make(chan error, 1)
	go func() { done <- db.Run(ctx) }()

	front, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		<-ctx.Done()
		front.Close()
	}()

	log.Printf("ferretdb listening on %s, data in %s", *listen, *dataDir)
	serveSerialized(front, socket)

	if err := <-done; err != nil {
		log.Fatal(err)
	}
}
