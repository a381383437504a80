import { InvalidArgumentError } from "commander";
import { describe, expect, test } from "vitest";
import { decimalInteger, nonEmpty } from "../src/cli-options.js";

describe("typed option values", () => {
  const packets = decimalInteger(1, 10_000_000);

  test("a decimal integer in range is taken as written", () => {
    expect(packets("1")).toBe(1);
    expect(packets("10000000")).toBe(10_000_000);
    expect(packets("007")).toBe(7);
    expect(decimalInteger(0, 0xffff_ffff)("4294967295")).toBe(0xffff_ffff);
  });

  test.each(["0", "10000001", "-5", "+3", "1.5", "1e3", "0x10", "0b1", "1_000", " 3", "3 ", "", "Infinity", "NaN", "99999999999999", "9007199254740993"])(
    "%j is refused with the range",
    (value) => {
      expect(() => packets(value)).toThrow(InvalidArgumentError);
      expect(() => packets(value)).toThrow("expected a decimal integer in 1..10000000.");
    },
  );

  test("an empty string is refused where a path is expected", () => {
    expect(nonEmpty("a socket path")("/tmp/s")).toBe("/tmp/s");
    expect(() => nonEmpty("a socket path")("")).toThrow("expected a socket path, got an empty string.");
  });
});
