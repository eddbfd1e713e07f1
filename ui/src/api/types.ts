// The one place screens import app-API types from. Today it re-exports the interim, hand-written
// types (./interim); once the lead's generated types land in ../generated/, this file re-exports
// those instead and interim.ts is deleted.
export * from './interim';
