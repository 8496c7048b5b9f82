; Inno Setup 6 script for Desktop Dedup (built by packaging/build.py on Windows):
;   iscc /DAppVersion=0.1.0 /DSourceDir=build\package\dist\desktop-dedup /DOutputDir=build\package\installer
;        [/DAppIcon=resources\desktop-dedup.ico] packaging\windows\desktop-dedup.iss
; Per-user install by default (no admin prompt); "Install for all users" is offered in the dialog.
; Signing (optional): define SignTool in the environment-driven CI step (see .github/workflows/package.yml).

#ifndef AppVersion
  #define AppVersion "0.0.0"
#endif
#ifndef SourceDir
  #define SourceDir "..\..\build\package\dist\desktop-dedup"
#endif
#ifndef OutputDir
  #define OutputDir "..\..\build\package\installer"
#endif
#define AppName "Desktop Dedup"
#define AppExe "Desktop Dedup.exe"

[Setup]
AppId={{6F1D3C0E-4E8B-4C57-9B0A-2D5C1E7A9F31}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=Desktop Dedup developers
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir={#OutputDir}
OutputBaseFilename=desktop-dedup-{#AppVersion}-setup
Compression=lzma2/max
SolidCompression=yes
LZMANumBlockThreads=4
WizardStyle=modern
UninstallDisplayIcon={app}\{#AppExe}
#ifdef AppIcon
SetupIconFile={#AppIcon}
#endif
#ifdef SignTool
SignTool={#SignTool}
#endif

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
Source: "{#SourceDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\{#AppExe}"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#AppExe}"; Tasks: desktopicon

[Run]
Filename: "{app}\{#AppExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent

[UninstallDelete]
Type: filesandordirs; Name: "{app}\_internal\__pycache__"
