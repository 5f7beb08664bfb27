package main

import (
	"encoding/binary"
	"errors"
	"io"
	"log"
	"net"
	"sync"
)

// Commands that change documents. Only one of them runs at a time, server-wide, which gives
// FerretDB MongoDB's guarantee that a single-document write is atomic. Reads run in parallel.
var writeCommands = map[string]bool{
	"insert": true, "update": true, "delete": true, "findAndModify": true, "findandmodify": true,
}

const (
	opMsg          = 2013
	flagMoreToCome = 1 << 1
	maxMessage     = 48_000_000
)

var writeLock sync.Mutex

func serveSerialized(front net.Listener, socket string) {
	for {
		client, err := front.Accept()
		if err != nil {
			return
		}
		go func() {
			defer client.Close()
			backend, err := net.Dial("unix", socket)
			if err != nil {
				log.Printf("backend dial: %v", err)
				return
			}
			defer backend.Close()
			if err := relay(client, backend); err != nil && !errors.Is(err, io.EOF) {
				log.Printf("connection closed: %v", err)
			}
		}()
	}
}

// relay forwards one request at a time and its reply; drivers use a connection that way unless
// they ask for exhaust cursors or unacknowledged writes (moreToCome), which get no reply here.
func relay(client, backend net.Conn) error {
	for {
		request, err := readMessage(client)
		if err != nil {
			return err
		}
		write, moreToCome := inspect(request)
		if write {
			writeLock.Lock()
		}
		err = forward(request, backend, client, moreToCome)
		if write {
			writeLock.Unlock()
		}
		if err != nil {
			return err
		}
	}
}

func forward(request []byte, backend, client net.Conn, moreToCome bool) error {
	if _, err := backend.Write(request); err != nil {
		return err
	}
	if moreToCome {
		return nil
	}
	reply, err := readMessage(backend)
	if err != nil {
		return err
	}
	_, err = client.Write(reply)
	return err
}

func readMessage(conn net.Conn) ([]byte, error) {
	header := make([]byte, 16)
	if _, err := io.ReadFull(conn, header); err != nil {
		return nil, err
	}
	length := int(binary.LittleEndian.Uint32(header[0:4]))
	if length < 16 || length > maxMessage {
		return nil, errors.New("bad message length")
	}
	message := make([]byte, length)
	copy(message, header)
	if _, err := io.ReadFull(conn, message[16:]); err != nil {
		return nil, err
	}
	return message, nil
}

// inspect reports whether an OP_MSG carries a write command (the first key of its body section)
// and whether the client expects no reply.
func inspect(message []byte) (write, moreToCome bool) {
	if binary.LittleEndian.Uint32(message[12:16]) != opMsg || len(message) < 27 {
		return false, false
	}
	flags := binary.LittleEndian.Uint32(message[16:20])
	moreToCome = flags&flagMoreToCome != 0
	// sections start at 20; a body section is kind 0 followed by a BSON document:
	// int32 size, then the first element: type byte, then its name as a C string.
	for offset := 20; offset < len(message); {
		kind := message[offset]
		if kind == 0 {
			start := offset + 1 + 4 + 1
			end := start
			for end < len(message) && message[end] != 0 {
				end++
			}
			return writeCommands[string(message[start:end])], moreToCome
		}
		// kind 1: int32 size (including itself), identifier, documents
		size := int(binary.LittleEndian.Uint32(message[offset+1 : offset+5]))
		offset += 1 + size
	}
	return false, moreToCome
}
