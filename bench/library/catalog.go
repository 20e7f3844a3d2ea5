package library

// platform is one folder of a library: its No-Intro/Redump DAT name and the
// file extension its ROMs carry.
type platform struct {
	Name string
	Ext  string
}

// cartridgePlatforms lists cartridge (and floppy/card) systems, the popular
// ones first: a preset with N folders takes the first N.
var cartridgePlatforms = []platform{
	{"Nintendo - Game Boy Advance", ".gba"},
	{"Nintendo - Super Nintendo Entertainment System", ".sfc"},
	{"Sega - Mega Drive - Genesis", ".md"},
	{"Nintendo - Game Boy", ".gb"},
	{"Nintendo - Game Boy Color", ".gbc"},
	{"Nintendo - Nintendo Entertainment System (Headered)", ".nes"},
	{"Sega - Master System - Mark III", ".sms"},
	{"Sega - Game Gear", ".gg"},
	{"NEC - PC Engine - TurboGrafx-16", ".pce"},
	{"Nintendo - Nintendo 64 (BigEndian)", ".z64"},
	{"Atari - 2600", ".a26"},
	{"SNK - Neo Geo Pocket Color", ".ngc"},
	{"Bandai - WonderSwan Color", ".wsc"},
	{"Nintendo - Nintendo DS (Decrypted)", ".nds"},
	{"Sega - 32X", ".32x"},
	{"Atari - Lynx", ".lnx"},
	{"Nintendo - Virtual Boy", ".vb"},
	{"Bandai - WonderSwan", ".ws"},
	{"SNK - Neo Geo Pocket", ".ngp"},
	{"Atari - 7800", ".a78"},
	{"Atari - 5200", ".a52"},
	{"Atari - Jaguar (J64)", ".j64"},
	{"Coleco - ColecoVision", ".col"},
	{"Mattel - Intellivision", ".int"},
	{"GCE - Vectrex", ".vec"},
	{"Nintendo - Family Computer Disk System (FDS)", ".fds"},
	{"Nintendo - Pokemon Mini", ".min"},
	{"Nintendo - Satellaview", ".bs"},
	{"Nintendo - Sufami Turbo", ".st"},
	{"Sega - SG-1000", ".sg"},
	{"Sega - PICO", ".md"},
	{"NEC - PC Engine SuperGrafx", ".pce"},
	{"Microsoft - MSX", ".rom"},
	{"Microsoft - MSX2", ".rom"},
	{"Magnavox - Odyssey 2", ".bin"},
	{"Fairchild - Channel F", ".bin"},
	{"Emerson - Arcadia 2001", ".bin"},
	{"Entex - Adventure Vision", ".bin"},
	{"Epoch - Super Cassette Vision", ".bin"},
	{"Watara - Supervision", ".sv"},
	{"Welback - Mega Duck", ".bin"},
	{"Casio - Loopy", ".bin"},
	{"Casio - PV-1000", ".bin"},
	{"Bally - Astrocade", ".bin"},
	{"Benesse - Pocket Challenge V2", ".pc2"},
	{"Funtech - Super Acan", ".bin"},
	{"Hartung - Game Master", ".bin"},
	{"RCA - Studio II", ".bin"},
	{"Tiger - Game.com", ".tgc"},
	{"VTech - CreatiVision", ".bin"},
	{"VTech - V.Smile", ".bin"},
	{"Commodore - Commodore 64", ".crt"},
	{"Commodore - VIC-20", ".crt"},
	{"Commodore - Amiga", ".adf"},
	{"Sinclair - ZX Spectrum +3", ".dsk"},
	{"Amstrad - CPC", ".dsk"},
	{"Sharp - X68000", ".dim"},
	{"Nintendo - Game Boy Advance (e-Reader)", ".raw"},
	{"Nintendo - Nintendo DSi (Decrypted)", ".nds"},
	{"Nintendo - Nintendo 3DS (Decrypted)", ".3ds"},
}

// discPlatform holds the disc images of the presets that have any; each image
// is a .bin with its .cue sheet beside it.
var discPlatform = platform{"Sony - PlayStation", ".bin"}

// cdSector is the raw sector size of a CD image (MODE2/2352): disc image
// sizes are whole numbers of sectors.
const cdSector = 2352
