// Moved to engine/ so capture (snapshot/) can use it without importing upward; kept for callers.
export * from "../engine/terminal-answerer";
