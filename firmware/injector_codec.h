/* injector_codec.h: a reference codec for the gun's serial framing (docs/protocol.md,
 * "Framing"): CRC-16/CCITT-FALSE, COBS, whole frames, and a byte-at-a-time receiver for a
 * UART interrupt. C99, no heap, no state outside the structs the caller owns.
 *
 * It is what the C test checks against the golden byte examples; a firmware may use it as it
 * is or hold its own codec to the same test.
 */

#ifndef INJECTOR_CODEC_H
#define INJECTOR_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "injector_protocol.h"

/* One frame, decoded: the header's fields and the payload. */
typedef struct {
    uint8_t version;
    uint8_t type;
    uint16_t seq;
    uint8_t length;
    uint8_t payload[INJ_MAX_PAYLOAD];
} inj_frame_t;

/* The stream receiver: feed it every byte from the line. Whatever does not check out (COBS,
 * length, CRC, or a run longer than any frame) is dropped and counted, and the receiver is in
 * step again after the next delimiter. */
typedef struct {
    uint8_t buffer[INJ_MAX_STUFFED];
    size_t used;
    bool overflowed;
    uint32_t frames_ok;
    uint32_t frames_bad;
} inj_receiver_t;

uint16_t inj_crc16(const uint8_t *data, size_t length);

/* COBS-stuff `length` bytes into `out` (no delimiter added). Returns the stuffed length, or
 * 0 when `capacity` is too small. */
size_t inj_cobs_encode(const uint8_t *data, size_t length, uint8_t *out, size_t capacity);

/* Unstuff `length` bytes (without the delimiter). Returns false for an invalid encoding (a
 * zero inside, a code byte that points past the end) or when `capacity` is too small. */
bool inj_cobs_decode(const uint8_t *stuffed, size_t length, uint8_t *out, size_t capacity,
                     size_t *out_length);

/* Header, payload and CRC, stuffed, with the delimiter: the bytes that go on the wire.
 * Returns their number, or 0 when `capacity` (INJ_MAX_WIRE is always enough) is too small. */
size_t inj_frame_encode(uint8_t type, uint16_t seq, const uint8_t *payload, uint8_t length,
                        uint8_t *wire, size_t capacity);

/* One frame from its stuffed bytes (without the delimiter); false when COBS, the length
 * field or the CRC does not check out. The version is returned, not judged: a frame of
 * another version is answered unsupported_version by the caller. */
bool inj_frame_decode(const uint8_t *stuffed, size_t length, inj_frame_t *frame);

void inj_receiver_init(inj_receiver_t *receiver);

/* Feed one byte; true when it completed a valid frame, now in `*frame`. */
bool inj_receiver_feed(inj_receiver_t *receiver, uint8_t byte, inj_frame_t *frame);

#endif /* INJECTOR_CODEC_H */
