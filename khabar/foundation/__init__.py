"""The shared foundation every stage stands on: errors and exit statuses, where the dataset repository
keeps each file, the table declarations, atomic writes, JSON Lines, regular-file reading, memory and the
signals a command ends on."""
