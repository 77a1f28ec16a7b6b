/* test_protocol.c: the generated header and the reference codec against the golden byte
 * examples of docs/protocol.md (protocol_examples.h), plus what a receiver must survive.
 *
 *     make -C firmware test        (or: cc -std=c99 -Wall -Wextra -Werror -pedantic \
 *                                         test_protocol.c injector_codec.c && ./a.out)
 *
 * Prints one line per failure and a summary; exits 1 on any failure.
 */

#include <stdio.h>
#include <string.h>

#include "injector_codec.h"
#include "injector_protocol.h"
#include "protocol_examples.h"

static unsigned failures;
static unsigned checks;

static void check(int ok, const char *name, const char *what)
{
    checks++;
    if (!ok) {
        failures++;
        printf("FAIL %s: %s\n", name, what);
    }
}

/* The size the header gives for this frame's payload, or -1 when it does not say. */
static int header_payload_size(const example_t *ex)
{
    if (ex->type == INJ_MSG_OK) {
        return 1 + inj_ok_body_size(ex->payload[0]);
    }
    if (ex->type == INJ_MSG_ERROR) {
        return (int)(1 + INJ_ERROR_BODY_SIZE);
    }
    if (inj_event_payload_size(ex->type) >= 0) {
        return inj_event_payload_size(ex->type);
    }
    return inj_command_payload_size(ex->type);
}

static void check_frame_bytes(const example_t *ex)
{
    const uint8_t *frame = ex->frame;
    size_t crc_at = ex->frame_length - INJ_FRAME_CRC_SIZE;

    check(frame[INJ_FRAME_VERSION_OFFSET] == INJ_PROTOCOL_VERSION, ex->name, "version byte");
    check(frame[INJ_FRAME_TYPE_OFFSET] == ex->type, ex->name, "type byte");
    check(inj_get_u16(frame + INJ_FRAME_SEQ_OFFSET) == ex->seq, ex->name, "seq field");
    check(frame[INJ_FRAME_LENGTH_OFFSET] == ex->payload_length, ex->name, "length field");
    check(ex->frame_length == INJ_FRAME_HEADER_SIZE + ex->payload_length + INJ_FRAME_CRC_SIZE,
          ex->name, "frame size");
    check(memcmp(frame + INJ_FRAME_PAYLOAD_OFFSET, ex->payload, ex->payload_length) == 0,
          ex->name, "payload bytes in the frame");
    check(inj_get_u16(frame + crc_at) == inj_crc16(frame, crc_at), ex->name, "CRC");
}

static void check_encode(const example_t *ex)
{
    uint8_t wire[INJ_MAX_WIRE];
    uint8_t body[INJ_MAX_FRAME];
    size_t length = inj_frame_encode(ex->type, ex->seq, ex->payload,
                                     (uint8_t)ex->payload_length, wire, sizeof wire);
    size_t unstuffed = 0;

    check(length == ex->wire_length && memcmp(wire, ex->wire, length) == 0, ex->name,
          "inj_frame_encode gives the wire bytes");
    check(inj_cobs_decode(ex->wire, ex->wire_length - 1, body, sizeof body, &unstuffed)
              && unstuffed == ex->frame_length
              && memcmp(body, ex->frame, unstuffed) == 0,
          ex->name, "COBS-decoding the wire gives the frame");
    check(inj_frame_encode(ex->type, ex->seq, ex->payload, (uint8_t)ex->payload_length, wire,
                           ex->wire_length - 1) == 0,
          ex->name, "encoding refuses a buffer one byte short");
}

static void check_receive(const example_t *ex)
{
    inj_receiver_t receiver;
    inj_frame_t frame;
    size_t i;
    unsigned received = 0;

    inj_receiver_init(&receiver);
    for (i = 0; i < ex->wire_length; i++) {
        if (inj_receiver_feed(&receiver, ex->wire[i], &frame)) {
            received++;
            check(i == ex->wire_length - 1, ex->name, "frame complete at its delimiter");
        }
    }
    check(received == 1 && receiver.frames_bad == 0, ex->name, "received exactly once");
    if (received == 1) {
        check(frame.version == INJ_PROTOCOL_VERSION && frame.type == ex->type
                  && frame.seq == ex->seq && frame.length == ex->payload_length
                  && memcmp(frame.payload, ex->payload, ex->payload_length) == 0,
              ex->name, "received fields equal the example's");
    }
}

static void check_body(const example_t *ex)
{
    uint8_t expected[INJ_MAX_PAYLOAD];
    uint8_t recoded[INJ_MAX_PAYLOAD];
    const uint8_t *body = ex->payload + ex->body_offset;
    size_t length = ex->payload_length - ex->body_offset;
    int size = header_payload_size(ex);

    check(size == (int)ex->payload_length, ex->name, "payload size the header gives");
    if (ex->expected == NULL) {
        return;
    }
    /* Field values through the header's struct and encoder give the golden bytes; and
     * since encoding is one to one, decoding them gives those values back. */
    check(ex->expected(expected) == length && memcmp(expected, body, length) == 0, ex->name,
          "the header's layout encodes the example's field values to its bytes");
    check(ex->recode(body, recoded) == length && memcmp(recoded, body, length) == 0,
          ex->name, "decode then encode through the header gives the same bytes");
}

static void check_examples(void)
{
    size_t i;

    check(ALL_EXAMPLES > DOC_EXAMPLES && DOC_EXAMPLES > 0, "examples", "examples present");
    for (i = 0; i < ALL_EXAMPLES; i++) {
        check_frame_bytes(&EXAMPLES[i]);
        check_encode(&EXAMPLES[i]);
        check_receive(&EXAMPLES[i]);
        if (i < DOC_EXAMPLES) {
            check_body(&EXAMPLES[i]);
        }
    }
}

/* What a receiver must survive (docs/protocol.md, "Framing"): each damaged frame dropped and
 * counted, idle zeros ignored, and the next good frame received. */
static unsigned feed(inj_receiver_t *receiver, const uint8_t *data, size_t length,
                     inj_frame_t *last)
{
    unsigned frames = 0;
    size_t i;

    for (i = 0; i < length; i++) {
        frames += inj_receiver_feed(receiver, data[i], last) ? 1u : 0u;
    }
    return frames;
}

static void check_damage(void)
{
    const example_t *ex = &EXAMPLES[0];
    static const uint8_t idle[] = {0, 0, 0};
    static const uint8_t past_end[] = {0x09, 0x02, 0x01, 0x00};
    uint8_t damaged[INJ_MAX_WIRE];
    uint8_t garbage[INJ_MAX_WIRE + 10];
    inj_receiver_t receiver;
    inj_frame_t frame;
    size_t i;

    check(inj_crc16((const uint8_t *)"123456789", 9) == INJ_CRC16_CHECK, "crc", "check value");

    for (i = 0; i + 1 < ex->wire_length; i++) {
        unsigned bit;
        for (bit = 0; bit < 8; bit++) {
            memcpy(damaged, ex->wire, ex->wire_length);
            damaged[i] ^= (uint8_t)(1u << bit);
            inj_receiver_init(&receiver);
            feed(&receiver, damaged, ex->wire_length, &frame);
            if (damaged[i] != 0) {
                /* The damaged frame ends at its delimiter: never accepted. */
                check(receiver.frames_ok == 0 && receiver.frames_bad == 1, "damage",
                      "a frame with one bit flipped is dropped and counted");
            }
            /* A flip to 0x00 cuts the frame in two: both halves dropped. Either way the
             * next frame arrives whole. */
            check(feed(&receiver, ex->wire, ex->wire_length, &frame) == 1 && frame.seq == ex->seq,
                  "damage", "the next frame after a damaged one is received");
        }
    }

    inj_receiver_init(&receiver);
    check(feed(&receiver, idle, sizeof idle, &frame) == 0 && receiver.frames_bad == 0, "idle",
          "repeated delimiters are idle line, not errors");
    check(feed(&receiver, past_end, sizeof past_end, &frame) == 0 && receiver.frames_bad == 1,
          "cobs", "a code byte pointing past the end makes the frame invalid");

    memset(garbage, 0x55, sizeof garbage);
    inj_receiver_init(&receiver);
    check(feed(&receiver, garbage, sizeof garbage, &frame) == 0 && receiver.frames_bad == 1,
          "overrun", "a run longer than any frame is dropped once");
    check(feed(&receiver, ex->wire, ex->wire_length, &frame) == 0, "overrun",
          "bytes up to the next delimiter are skipped");
    check(feed(&receiver, ex->wire, ex->wire_length, &frame) == 1 && frame.seq == ex->seq,
          "overrun", "in step again after the delimiter");
}

int main(void)
{
    check_examples();
    check_damage();
    printf("%s: %u checks, %u failed (%u doc examples, %u boundary vectors)\n",
           failures ? "FAILED" : "ok", checks, failures, (unsigned)DOC_EXAMPLES,
           (unsigned)(ALL_EXAMPLES - DOC_EXAMPLES));
    return failures ? 1 : 0;
}
