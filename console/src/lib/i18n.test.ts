import { describe, expect, it } from "vitest";
import { MESSAGES, detectLang } from "./i18n";

describe("detectLang", () => {
  it("follows the browser's first known language", () => {
    expect(detectLang(["zh-TW", "en"], null)).toBe("zh-CN");
    expect(detectLang(["fr-FR", "en-GB"], null)).toBe("en-US");
    expect(detectLang(["fr-FR"], null)).toBe("en-US");
  });
  it("a stored choice wins; a junk stored value is ignored", () => {
    expect(detectLang(["en-US"], "zh-CN")).toBe("zh-CN");
    expect(detectLang(["zh-CN"], "de")).toBe("zh-CN");
  });
  it("both languages have every message, none empty", () => {
    const en = Object.keys(MESSAGES["en-US"]).sort();
    expect(Object.keys(MESSAGES["zh-CN"]).sort()).toEqual(en);
    for (const lang of ["en-US", "zh-CN"] as const) {
      for (const v of Object.values(MESSAGES[lang])) expect(v.length).toBeGreaterThan(0);
    }
  });
});
