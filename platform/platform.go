// Package platform maps the platform folders of a ROM library to the folders
// a device layout expects, from an embedded catalog of platforms and layouts.
//
// # Catalog
//
// The catalog (catalog.tsv, embedded) has one row per platform: a canonical
// id such as "gba", its No-Intro/Redump DAT name ("Nintendo - Game Boy
// Advance"), aliases, and one column per device layout giving the folder that
// device's firmware expects for the platform. The layouts themselves
// (layouts.tsv, embedded) carry their aliases ("knulli" is "batocera",
// "jelos" is "rocknix"), where a platform folder goes relative to the profile
// target, and a description. Both files are parsed once, on first use; a
// malformed file makes Catalog, Layouts and Lookup panic and NewLayout fail,
// and fails the package tests.
//
// A row may be a variant of another platform (the "of" column): a regional or
// model system such as ES-DE's megadrivejp, snesna or amiga1200. A variant
// has its own id, names and, where a device has one, its own folder (ES-DE's
// megadrivejp, Batocera's amiga1200); on every other layout it goes where
// its parent goes (Onion MD, MiSTer Genesis). A folder a variant inherits is
// its parent's claim, never a second claim on the device key. Options.Only
// selects a platform's variants with it.
//
// # Matching library folders
//
// Lookup compares normalised keys, never regular expressions: a key is the
// name in Unicode compatibility decomposition with the accents of Latin
// letters dropped (NFC and NFD spellings of "Pokémon" and plain "Pokemon"
// agree), "&" read as "and" and "+" as "plus", lower-cased, keeping only
// letters and digits. "Nintendo - Game Boy Advance", "nintendo game boy advance", "GBA",
// "Game Boy Advance" and "Game Boy Advance (GBA)" all give keys of gba, while
// "Game Boy", "Game Boy Color" and "Game Boy Advance" stay three keys.
//
// Keys come in two tiers. Primary keys are every platform's id, DAT name and
// aliases; no two platforms may share one. Device keys are every layout's
// folder names. A primary key always wins over a device key: MiSTer's
// "Gameboy" folder holds gb and gbc, but "Gameboy" is an alias of gb, so it
// means gb. A device key that two platforms share (a merged device folder)
// must also be a primary key of one of them, or the catalog does not load;
// so every such choice is written down in the catalog and tested, and none
// is left to row order. The choices are: MiSTer Gameboy and twmenu gb → gb;
// MiSTer and miyoocfw SMS → sms; MiSTer NeoGeo → neogeo; Onion/twmenu/adam NGP and
// FunKey "Neo Geo Pocket" → ngp; MiSTer, Pocket and FunKey NES → nes;
// MiSTer TGFX16, Pocket pce and miyoocfw PCE → pce; miyoocfw SMD → md;
// Onion WS, MiSTer/Pocket/FunKey WonderSwan, miyoocfw WSWAN and twmenu ws →
// ws; adam WSC → wsc; Onion/spruce/adam MSX → msx; MiSTer SNES and Pocket
// snes → snes. Four device folders mean another platform than on their
// device: CrossMix names its Neo Geo Pocket Color folder "NGC", but as a
// library folder NGC means GameCube (an alias of gc, and RomM's slug);
// MiSTer's MSX2 folder is "MSX", which means msx (MiSTer's MSX1 folder is
// "MSX1"); ROCKNIX's DOS folder is "pc", which as a library folder means
// ES-DE's IBM PC system; and Onion's VIDEOPAC holds the Videopac+ G7400,
// while ES-DE's and ROCKNIX's videopac is the G7000 (Odyssey 2).
//
// When the whole name has no key, Lookup tries, in order: the name without
// trailing "(...)" and "[...]" groups ("Nintendo - Game Boy (Parent-Clone)");
// the name without a leading manufacturer taken from the DAT names ("Sega
// Saturn", "NEC TurboGrafx-16"), against primary keys only; and the trailing
// groups themselves, against primary keys only, so that MinUI's renamed
// folders ("Nintendo (FC)") keep their tag. Names of platforms that are not in
// the catalog ("Sony - PlayStation 3", "Nintendo - Wii U") match nothing.
//
// # Layouts and targets
//
// Platform.Folders holds each device's own name for the platform, <x> in the
// layout descriptions. Layout.Map and Layout.Table return the path of the
// platform folder relative to the profile's target, which is <x> itself for
// every layout but pocket: there the target is the card root and the path is
// "Assets/<x>/common", the only result with a '/'. For onion the target is the
// card's Roms folder, for mister its games folder, for romm the library's roms
// folder (RomM's library/roms), and so on: those prefixes belong to the
// target, not to the catalog. An override replaces <x>, so on pocket an
// override "gb2" maps to "Assets/gb2/common". A folder that matches no
// platform, kept under UnknownKeep, keeps its library name as its path, so on
// pocket it lands at the card root.
//
// Several platforms may map to one folder (MiSTer Gameboy, Onion NGP); the
// sync engine merges them and detects file collisions. Layout.SharedFolders
// lists those merges for the CLI.
package platform
